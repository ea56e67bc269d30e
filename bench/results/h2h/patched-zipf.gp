set terminal png size 1000,500
set output 'patched-zipf.png'
set title 'h2h-lab patched-zipf: true hot set on the DRAM node'
set xlabel 'seconds since the workload started'
set ylabel '% of the hot set on DRAM'
set yrange [0:105]
set key outside right
plot 'patched-zipf.dat' index 0 with linespoints title 'alldram', 'patched-zipf.dat' index 1 with linespoints title 'none', 'patched-zipf.dat' index 2 with linespoints title 'oracle', 'patched-zipf.dat' index 3 with linespoints title 'vtismd', 'patched-zipf.dat' index 4 with linespoints title 'damon', 'patched-zipf.dat' index 5 with linespoints title 'numab', 'patched-zipf.dat' index 6 with linespoints title 'damon-nogoal', 'patched-zipf.dat' index 7 with linespoints title 'damon-nogoal-noyoung'
