// Command floor is the benchmark floor: the smallest net/http server that
// carries navius's core dependencies (urfave/cli for its command line,
// logrus for its log, go.yaml.in/yaml/v3 for an optional config file) and
// serves the same bytes as navius's key-value API from a map. `make bench`
// loads it and navius in the same run and reports the ratios; its size is
// the reference for navius's smallest build.
//
//	go run ./bench/floor serve --listen 127.0.0.1:18081
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

type config struct {
	Listen string `yaml:"listen"`
}

func main() {
	log := logrus.New()
	app := &cli.App{
		Name:  "floor",
		Usage: "the benchmark floor for navius",
		Commands: []*cli.Command{{
			Name: "serve",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "listen", Value: "127.0.0.1:18081"},
				&cli.StringFlag{Name: "config"},
			},
			Action: func(c *cli.Context) error {
				cfg := config{Listen: c.String("listen")}
				if f := c.String("config"); f != "" {
					data, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					if err := yaml.Unmarshal(data, &cfg); err != nil {
						return err
					}
				}
				log.WithField("addr", cfg.Listen).Info("floor is serving")
				return http.ListenAndServe(cfg.Listen, handler())
			},
		}},
	}
	if err := app.Run(os.Args); err != nil {
		log.Fatal(err)
	}
}

func handler() http.Handler {
	var mu sync.RWMutex
	data := map[string]map[string][]byte{}
	sorted := map[string][]string{} // per collection, rebuilt after a new key
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/{collection}/{key}", func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		v, ok := data[r.PathValue("collection")][r.PathValue("key")]
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
		coll := r.PathValue("collection")
		mu.Lock()
		if data[coll] == nil {
			data[coll] = map[string][]byte{}
		}
		if _, exists := data[coll][r.PathValue("key")]; !exists {
			delete(sorted, coll)
		}
		data[coll][r.PathValue("key")] = v
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	// The query path: the first page of keys in order whose value contains
	// the filter, as navius's GET /api/v1/{collection} answers it.
	mux.HandleFunc("GET /api/v1/{collection}", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = 100
		}
		filter := r.URL.Query().Get("filter")
		type item struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		name := r.PathValue("collection")
		mu.Lock() // the sorted index may need rebuilding
		coll := data[name]
		keys, ok := sorted[name]
		if !ok {
			for k := range coll {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			sorted[name] = keys
		}
		items := []item{}
		for _, k := range keys {
			if v := coll[k]; strings.Contains(string(v), filter) {
				if len(items) == limit {
					break
				}
				items = append(items, item{k, string(v)})
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	return mux
}
