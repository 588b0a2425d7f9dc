# Plots of one broker-bench run; run in the results directory:
#   gnuplot /path/to/tests/bench/plots.gp
# Missing data files (a scenario that was skipped) leave their plot out.
set terminal pngcairo size 900,560 noenhanced font ",10"
set grid
set key bottom right

have(f) = system("test -s " . f . " && echo 1 || echo 0") + 0

if (have("activation-brokerd.dat")) {
	set output "activation.png"
	set title "Activation latency without systemd: send -> answer (CDF)"
	set xlabel "latency (ms)"
	set ylabel "fraction of samples"
	set logscale x
	plot "activation-floor.dat" using ($1/1000):2 with lines lw 2 title "posix_spawn floor", \
	     "activation-brokerd.dat" using ($1/1000):2 with lines lw 2 title "brokerd exec", \
	     "activation-ssa.dat" using ($1/1000):2 with lines lw 2 title "systemd-socket-activate --accept"
	unset logscale x
}

if (have("sd-wake.dat")) {
	set output "systemd.png"
	set title "Activation latency under the systemd user manager (CDF)"
	set xlabel "latency (ms)"
	set ylabel "fraction of samples"
	set logscale x
	plot "sd-native.dat" using ($1/1000):2 with lines lw 2 title "native .socket (Accept=no)", \
	     "sd-wake.dat" using ($1/1000):2 with lines lw 2 title "brokerd wake-socket"
	unset logscale x
}

if (have("memory.dat")) {
	set output "memory.png"
	set title "brokerd RSS by held TCP sockets"
	set xlabel "held sockets"
	set ylabel "brokerd RSS (KiB)"
	set y2label "kernel slab growth, machine-wide (KiB)"
	set ytics nomirror
	set y2tics
	set key top left
	plot "memory.dat" using 1:2 with linespoints lw 2 title "brokerd RSS", \
	     "memory.dat" using 1:3 axes x1y2 with linespoints lw 1 dt 2 title "kernel slab growth (both ends)"
}

if (have("sd-handoff.dat")) {
	set output "sd-handoff.png"
	set title "Hand-off (transfer + claim) by sockets held, under the systemd user manager and without"
	set xlabel "held sockets"
	set ylabel "median per hand-off (us)"
	set yrange [0:*]
	unset y2label
	unset y2tics
	set ytics mirror
	set key top left
	plot "sd-handoff.dat" using 1:2 with linespoints lw 2 title "under systemd (fd store in buckets)", \
	     "sd-handoff.dat" using 1:3 with linespoints lw 2 title "without systemd (no fd store)"
}
