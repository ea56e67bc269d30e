set terminal png size 1000,500
set output 'patched-slo.png'
set title 'h2h-lab patched-slo: true hot set on the DRAM node'
set xlabel 'seconds since the workload started'
set ylabel '% of the hot set on DRAM'
set yrange [0:105]
set key outside right
plot 'patched-slo.dat' index 0 with linespoints title 'none', 'patched-slo.dat' index 1 with linespoints title 'oracle', 'patched-slo.dat' index 2 with linespoints title 'vtismd', 'patched-slo.dat' index 3 with linespoints title 'damon', 'patched-slo.dat' index 4 with linespoints title 'numab'
