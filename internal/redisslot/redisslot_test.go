package redisslot

import "testing"

// Tags as Redis Cluster's specification reads them, and slots as CLUSTER
// KEYSLOT gives them.
func TestOf(t *testing.T) {
	for _, c := range []struct {
		key, tag string
		slot     uint16
	}{
		{"", "", 0},
		{"123456789", "123456789", 12739}, // CRC16/XMODEM's check value, 0x31C3
		{"foo", "foo", 12182},
		{"bar", "bar", 5061},
		{"user1000", "user1000", 3443},
		{"{user1000}.following", "user1000", 3443},
		{"x{user1000}", "user1000", 3443},
		{"foo{}{bar}", "foo{}{bar}", 8363}, // an empty tag: the whole key
		{"foo{bar", "foo{bar", 15278},      // no closing brace: the whole key
		{"foo{{bar}}zap", "{bar", 4015},
		{"foo{bar}{zap}", "bar", 5061},
	} {
		if tag := HashTag(c.key); tag != c.tag {
			t.Errorf("HashTag(%q) = %q, want %q", c.key, tag, c.tag)
		}
		if slot := Of(c.key); slot != c.slot {
			t.Errorf("Of(%q) = %d, want %d", c.key, slot, c.slot)
		}
	}
}
