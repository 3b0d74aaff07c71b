module example.com/navius-nofeature

go 1.26.0
