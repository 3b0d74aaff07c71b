// Package suggest finds the likely intended word for a misspelt one, for
// "did you mean" hints.
package suggest

import "strings"

// Closest returns the candidate closest to word when it is close enough to be
// a likely typo (or word is a prefix of it), else "".
func Closest(word string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := Distance(word, c)
		limit := max(1, len([]rune(c))/3)
		if len(word) >= 2 && strings.HasPrefix(c, word) {
			d = 1
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance with adjacent transpositions counted
// as one edit.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
