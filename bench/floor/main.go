// Command floor is the benchmark floor: the smallest net/http server that
// serves the same bytes as navius's GET /api/v1/{collection}/{key}, from a
// map. Benchmarks load it and navius in the same run and report the ratio.
//
//	go run ./bench/floor -listen 127.0.0.1:18081
//	curl -X PUT 127.0.0.1:18081/api/v1/c/k -d value
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	flag.Parse()
	var mu sync.RWMutex
	data := map[string][]byte{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/{collection}/{key}", func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		v, ok := data[r.PathValue("collection")+"\x00"+r.PathValue("key")]
		mu.RUnlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(v)))
		_, _ = w.Write(v)
	})
	mux.HandleFunc("PUT /api/v1/{collection}/{key}", func(w http.ResponseWriter, r *http.Request) {
		v, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		mu.Lock()
		data[r.PathValue("collection")+"\x00"+r.PathValue("key")] = v
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	log.Fatal(http.ListenAndServe(*listen, mux))
}
