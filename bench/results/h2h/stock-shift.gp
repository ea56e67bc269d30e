set terminal png size 1000,500
set output 'stock-shift.png'
set title 'h2h-lab stock-shift: true hot set on the DRAM node'
set xlabel 'seconds since the workload started'
set ylabel '% of the hot set on DRAM'
set yrange [0:105]
set key outside right
plot 'stock-shift.dat' index 0 with linespoints title 'vtismd', 'stock-shift.dat' index 1 with linespoints title 'damon', 'stock-shift.dat' index 2 with linespoints title 'numab', 'stock-shift.dat' index 3 with linespoints title 'damon-nogoal'
