set terminal png size 1000,800
set output 'patched-slo-cxl.png'
set multiplot layout 2,1
set title "h2h-lab patched-slo-cxl: the SLO process's accesses served from CXL (its own count)"
set xlabel 'seconds since the workload started'
set ylabel '% of its accesses from CXL'
set yrange [0:*]
set key outside right
plot 'patched-slo-cxl.dat' index 0 with linespoints title 'none', 'patched-slo-cxl.dat' index 1 with linespoints title 'oracle', 'patched-slo-cxl.dat' index 2 with linespoints title 'vtismd', 'patched-slo-cxl.dat' index 3 with linespoints title 'damon', 'patched-slo-cxl.dat' index 4 with linespoints title 'numab', 5 with lines dashtype 2 linewidth 2 linecolor 'black' title 'cap 5 %'
set title 'the same, up to 3 x the cap'
set yrange [0:15]
plot 'patched-slo-cxl.dat' index 0 with linespoints title 'none', 'patched-slo-cxl.dat' index 1 with linespoints title 'oracle', 'patched-slo-cxl.dat' index 2 with linespoints title 'vtismd', 'patched-slo-cxl.dat' index 3 with linespoints title 'damon', 'patched-slo-cxl.dat' index 4 with linespoints title 'numab', 5 with lines dashtype 2 linewidth 2 linecolor 'black' title 'cap 5 %'
unset multiplot
