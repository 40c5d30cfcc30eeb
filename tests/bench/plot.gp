# plot.gp: docs/bench-chart.png from the fanout runs of run.sh.
# gnuplot -e "datadir='DIR'; out='FILE.png'" plot.gp
# DIR holds fanout-parley.dat and fanout-node.dat written by report.js:
#   target_rate deliveries_per_s p99_ms clean(1/0)
if (!exists("datadir")) datadir = "."
if (!exists("out")) out = "bench-chart.png"
p = datadir."/fanout-parley.dat"
n = datadir."/fanout-node.dat"

set terminal pngcairo size 1400,560 enhanced font "DejaVu Sans,13" linewidth 2
set output out
set multiplot layout 1,2 title "Fan-out to 1000 subscribers, 100-byte messages (Parley persists every message, the Node baseline none)" font ",14"

set logscale xy
set grid xtics ytics mxtics mytics lc rgb "#dddddd" lw 1
set xlabel "publish rate (messages/s)"
set format x "%.0s%c"
set format y "%.0s%c"

set title "deliveries per second"
set key bottom right box opaque
set ylabel "deliveries/s"
plot p using 1:2 with linespoints pt 7 ps 1.3 lc rgb "#1f77b4" title "Parley", \
     p using 1:($4 == 0 ? $2 : 1/0) with points pt 6 ps 2.6 lc rgb "#d62728" notitle, \
     n using 1:2 with linespoints pt 5 ps 1.3 lc rgb "#ff7f0e" title "Node baseline (ws)", \
     n using 1:($4 == 0 ? $2 : 1/0) with points pt 4 ps 2.6 lc rgb "#d62728" title "lost or closed", \
     x*1000 with lines dt 2 lc rgb "#888888" title "all delivered (rate x 1000)"

set title "p99 latency, publish to delivery"
set key top left box opaque
set ylabel "p99 (ms)"
set format y "%g"
plot p using 1:3 with linespoints pt 7 ps 1.3 lc rgb "#1f77b4" title "Parley", \
     p using 1:($4 == 0 ? $3 : 1/0) with points pt 6 ps 2.6 lc rgb "#d62728" notitle, \
     n using 1:3 with linespoints pt 5 ps 1.3 lc rgb "#ff7f0e" title "Node baseline (ws)", \
     n using 1:($4 == 0 ? $3 : 1/0) with points pt 4 ps 2.6 lc rgb "#d62728" title "lost or closed", \
     50 with lines dt 2 lc rgb "#888888" title "50 ms"
unset multiplot
