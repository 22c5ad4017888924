// Command catalogue measures the catalogue's search over all its entries: the first load of the
// embedded data, then the latency percentiles of Search for a realistic mix of queries (each
// entry's first name word, each category, the empty query, and words that match nothing), beside
// a baseline in the same run: Get by slug (a map lookup), the least a catalogue call costs.
//
//	go run ./bench/catalogue
//	go run ./bench/catalogue -rounds 20 -first 20
//
// docs/benchmarks.md has the figures.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/catalogue"
)

func main() {
	rounds := flag.Int("rounds", 10, "times each query is run")
	first := flag.Int("first", 20, "page size")
	flag.Parse()

	start := time.Now()
	c := catalogue.Default()
	load := time.Since(start)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Printf("load: %d entries in %v (heap in use after: %.1f MB)\n", c.Len(), load.Round(time.Microsecond), float64(ms.HeapInuse)/(1<<20))

	type query struct{ q, category string }
	var queries []query
	var slugs []string
	for _, e := range c.Entries() {
		slugs = append(slugs, e.Slug)
		if w := strings.Fields(e.Name); len(w) > 0 {
			queries = append(queries, query{q: w[0]})
		}
	}
	for _, cat := range c.Categories() {
		queries = append(queries, query{category: cat})
	}
	queries = append(queries, query{}, query{q: "no such api anywhere"}, query{q: "oauth"}, query{q: "google calendar"})

	measure := func(n int, call func(i int)) []time.Duration {
		out := make([]time.Duration, 0, n**rounds)
		for range *rounds {
			for i := range n {
				t := time.Now()
				call(i)
				out = append(out, time.Since(t))
			}
		}
		slices.Sort(out)
		return out
	}
	pct := func(d []time.Duration, p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }
	report := func(name string, d []time.Duration) {
		fmt.Printf("%-28s %7d calls  p50 %9v  p99 %9v  max %9v\n", name, len(d), pct(d, 0.50), pct(d, 0.99), d[len(d)-1])
	}
	matched := 0
	search := measure(len(queries), func(i int) {
		p, err := c.Search(queries[i].q, queries[i].category, *first, "")
		if err != nil {
			panic(err)
		}
		matched += len(p.Items)
	})
	get := measure(len(slugs), func(i int) {
		if _, err := c.Get(slugs[i]); err != nil {
			panic(err)
		}
	})
	report(fmt.Sprintf("Search (first=%d)", *first), search)
	report("baseline: Get by slug", get)
	fmt.Printf("(%d queries x %d rounds; %d items returned)\n", len(queries), *rounds, matched)
}
