package nameclash

import "testing"

func TestConformance(t *testing.T) { t.Skip("never run: the feature's name is refused first") }
