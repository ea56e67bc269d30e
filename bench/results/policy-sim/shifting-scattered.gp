# gnuplot script written by the vtism placement benchmarks
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 960,540 } else { set terminal png size 960,540 }
set output 'shifting-scattered.png'
set title 'shifting scattered: hot set on DRAM over time (policy-sim, VM 0)' noenhanced
set xlabel 'time (s)'
set ylabel 'hot set on DRAM (by accesses)'
set key below noenhanced
set grid
set yrange [0:1.02]
plot 'shifting-scattered.dat' using 1:2 with lines lw 2 title 'vtism planner', 'shifting-scattered.dat' using 1:3 with lines lw 2 title 'oracle (future accesses)', 'shifting-scattered.dat' using 1:4 with lines lw 2 title 'prescient (true probabilities)', 'shifting-scattered.dat' using 1:5 with lines lw 2 title 'first touch (no tiering)'
