package hypervisor

// threadQueue is the FIFO run queue: a ring buffer that grows, so that
// steady-state queueing allocates nothing. scheduler.mu protects it.
type threadQueue struct {
	buf        []*Thread
	head, size int
}

func (q *threadQueue) len() int { return q.size }

func (q *threadQueue) push(t *Thread) {
	if q.size == len(q.buf) {
		buf := make([]*Thread, max(8, 2*len(q.buf)))
		for i := 0; i < q.size; i++ {
			buf[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = t
	q.size++
}

// pop removes and returns the oldest thread; the queue must not be empty.
func (q *threadQueue) pop() *Thread {
	t := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return t
}

// removeIf removes the threads for which drop returns true, keeping the
// order of the others, and returns them.
func (q *threadQueue) removeIf(drop func(*Thread) bool) []*Thread {
	var gone, keep []*Thread
	for q.size > 0 {
		if t := q.pop(); drop(t) {
			gone = append(gone, t)
		} else {
			keep = append(keep, t)
		}
	}
	for _, t := range keep {
		q.push(t)
	}
	return gone
}
