module example.com/navius-nameclash

go 1.26.0
