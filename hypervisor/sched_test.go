package hypervisor

import "testing"

func TestThreadQueue(t *testing.T) {
	var q threadQueue
	ths := make([]*Thread, 20)
	for i := range ths {
		ths[i] = &Thread{tid: i}
	}
	// Interleave pushes and pops across growth and wrap-around.
	next := 0
	for i, th := range ths {
		q.push(th)
		if i%3 == 2 {
			if got := q.pop(); got != ths[next] {
				t.Fatalf("pop = %d, want %d", got.tid, next)
			}
			next++
		}
	}
	gone := q.removeIf(func(th *Thread) bool { return th.tid%2 == 0 })
	for _, th := range gone {
		if th.tid%2 != 0 {
			t.Errorf("removed %d", th.tid)
		}
	}
	prev := -1
	for q.len() > 0 {
		th := q.pop()
		if th.tid%2 == 0 || th.tid <= prev || th.tid < next {
			t.Fatalf("queue order broken at %d (previous %d)", th.tid, prev)
		}
		prev = th.tid
	}
	if got := testing.AllocsPerRun(100, func() { q.push(ths[0]); q.pop() }); got != 0 {
		t.Errorf("steady-state push/pop allocates %v times", got)
	}
}
