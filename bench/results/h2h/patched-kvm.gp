set terminal png size 1000,500
set output 'patched-kvm.png'
set title 'h2h-lab patched-kvm: true hot set on the DRAM node'
set xlabel 'seconds since the workload started'
set ylabel '% of the hot set on DRAM'
set yrange [0:105]
set key outside right
plot 'patched-kvm.dat' index 0 with linespoints title 'none', 'patched-kvm.dat' index 1 with linespoints title 'oracle', 'patched-kvm.dat' index 2 with linespoints title 'vtismd', 'patched-kvm.dat' index 3 with linespoints title 'damon', 'patched-kvm.dat' index 4 with linespoints title 'numab'
