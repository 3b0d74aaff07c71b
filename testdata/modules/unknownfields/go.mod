module example.com/navius-unknownfields

go 1.26.0
