set terminal png size 1000,500
set output 'patched-shift.png'
set title 'h2h-lab patched-shift: true hot set on the DRAM node'
set xlabel 'seconds since the workload started'
set ylabel '% of the hot set on DRAM'
set yrange [0:105]
set key outside right
plot 'patched-shift.dat' index 0 with linespoints title 'alldram', 'patched-shift.dat' index 1 with linespoints title 'none', 'patched-shift.dat' index 2 with linespoints title 'oracle', 'patched-shift.dat' index 3 with linespoints title 'vtismd', 'patched-shift.dat' index 4 with linespoints title 'damon', 'patched-shift.dat' index 5 with linespoints title 'numab', 'patched-shift.dat' index 6 with linespoints title 'damon-nogoal'
