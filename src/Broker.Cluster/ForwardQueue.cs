namespace Broker.Cluster;

/// <summary>
/// The forwards this node owes one other node: numbered in the order publishers handed them over, kept until that node
/// acknowledges them, sent in batches by the forwarding loop, sent again from the oldest on a gap or a stall.
/// </summary>
/// <remarks>
/// <para>End to end QoS: a QoS 1/2 forward carries a waiter that completes when the node acknowledges it (it is in that
/// node's sessions), or when this node stops waiting for it (the node is found down or leaves, or does not acknowledge
/// it within cluster.node_timeout while still announcing itself: <see cref="ReleaseOlderThan"/>). The publisher's
/// PUBACK/PUBREC waits for it. QoS 0 forwards carry none.</para>
/// <para>Back-pressure: past <see cref="HighMark"/> unacknowledged forwards, <see cref="Enqueue"/> hands out a task that
/// completes when acknowledgements bring the count down to <see cref="LowMark"/> (or the node is forgotten): the
/// publisher's connection reads nothing more until then, as it does for a slow local subscriber. Past
/// <see cref="MaxQueue"/> a QoS 0 forward is refused (counted as dropped); a QoS 1/2 forward never is: each publisher
/// adds at most one past the high mark before it waits.</para>
/// <para>Numbers are consecutive from the oldest held to the newest, so the forward numbered n is at ring index
/// n - oldest. Everything happens under one lock; waiters are completed outside it (their continuations run
/// asynchronously anyway).</para>
/// </remarks>
internal sealed class ForwardQueue
{
    private readonly Lock _lock = new();
    private Entry[] _ring = new Entry[16];
    private int _head;
    private int _count;
    private long _lastSequence;
    private long _nextToSend = 1;

    // The newest number the node has said it received (its acknowledgement may lag behind: back-pressure), and up to
    // which the waiters of what it received were completed.
    private long _received;
    private long _releasedThrough;
    private bool _open;
    private TaskCompletionSource? _drained;

    // When the oldest forward was last acknowledged or sent again, or the queue last became non-empty.
    private long _lastProgress;

    public ForwardQueue(int maxQueue)
    {
        MaxQueue = Math.Max(1, maxQueue);
        HighMark = Math.Max(1, MaxQueue / 10);
        LowMark = HighMark / 2;
    }

    /// <summary>cluster.max_forward_queue: beyond it, QoS 0 forwards are dropped.</summary>
    public int MaxQueue { get; }

    /// <summary>Unacknowledged forwards beyond which publishers wait (a tenth of <see cref="MaxQueue"/>).</summary>
    public int HighMark { get; }

    /// <summary>Where waiting publishers go on (half the high mark).</summary>
    public int LowMark { get; }

    /// <summary>When the forwards were last sent again (<see cref="Rewind"/>).</summary>
    public long LastResend { get; private set; }

    public int Count
    {
        get
        {
            lock (_lock)
                return _count;
        }
    }

    /// <summary>
    /// Queues <paramref name="body"/>. False when it is not queued: the node is down (<see cref="Forget"/> until
    /// <see cref="Open"/>), or <paramref name="reliable"/> is false and <see cref="MaxQueue"/> forwards are held.
    /// </summary>
    /// <param name="body">The forward's bytes.</param>
    /// <param name="reliable">QoS 1/2: <paramref name="acknowledged"/> is its waiter, and it is never refused for a full queue.</param>
    /// <param name="now">A timestamp, for <see cref="ReleaseOlderThan"/>.</param>
    /// <param name="acknowledged">For a reliable forward, completes when it is acknowledged or released; else null.</param>
    /// <param name="behind">Non-null when the queue is past its high mark: the publisher waits for it.</param>
    /// <param name="full">True when the forward was refused because the queue is full (not because the node is down).</param>
    public bool Enqueue(byte[] body, bool reliable, long now, out Task? acknowledged, out Task? behind, out bool full)
    {
        acknowledged = null;
        behind = null;
        full = false;
        lock (_lock)
        {
            if (!_open)
                return false;
            if (!reliable && _count >= MaxQueue)
            {
                full = true;
                return false;
            }
            if (_count == _ring.Length)
                Grow();
            var waiter = reliable ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
            if (_count == 0)
                _lastProgress = now;
            _ring[(_head + _count) & (_ring.Length - 1)] = new Entry(++_lastSequence, body, waiter, now);
            _count++;
            acknowledged = waiter?.Task;
            if (_count > HighMark)
                behind = (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            return true;
        }
    }

    /// <summary>
    /// Queues a share group's forward that another node could not serve (<see cref="ShareRedispatch"/>): it keeps the
    /// publisher's <paramref name="waiter"/> (the PUBACK/PUBREC waits for this node's acknowledgement now) and the nodes
    /// already <paramref name="tried"/>. No back-pressure (the publisher already went on); a QoS 0 one (no waiter) is
    /// refused past <see cref="MaxQueue"/>. False when not queued.
    /// </summary>
    public bool EnqueueRedispatch(byte[] body, TaskCompletionSource? waiter, RedispatchTrail tried, long now)
    {
        lock (_lock)
        {
            if (!_open || (waiter is null && _count >= MaxQueue))
                return false;
            if (_count == _ring.Length)
                Grow();
            if (_count == 0)
                _lastProgress = now;
            _ring[(_head + _count) & (_ring.Length - 1)] = new Entry(++_lastSequence, body, waiter, now) { Trail = tried };
            _count++;
            return true;
        }
    }

    /// <summary>
    /// Takes the next forwards to send, oldest first, into <paramref name="batch"/>: at least one, and more while their
    /// bytes stay within <paramref name="maxBytes"/>. Returns the number of the first taken (0 for none) and the oldest
    /// number still held (<see cref="ForwardBatch"/>' header).
    /// </summary>
    public long TakeBatch(int maxBytes, List<byte[]> batch, out long oldestHeld)
    {
        lock (_lock)
        {
            oldestHeld = OldestLocked();
            if (_count == 0 || _nextToSend > _lastSequence)
                return 0;
            if (_nextToSend < oldestHeld)
                _nextToSend = oldestHeld;
            var first = _nextToSend;
            var bytes = 0;
            while (_nextToSend <= _lastSequence)
            {
                var body = _ring[(_head + (int)(_nextToSend - oldestHeld)) & (_ring.Length - 1)].Body;
                if (batch.Count > 0 && bytes + body.Length > maxBytes)
                    break;
                batch.Add(body);
                bytes += body.Length + 8;
                _nextToSend++;
            }
            return first;
        }
    }

    /// <summary>
    /// The node has every forward up to <paramref name="acked"/>: they are forgotten and their waiters complete; below
    /// the low mark, waiting publishers go on. Returns how many were forgotten.
    /// </summary>
    public int Acknowledge(long acked, long now) => Acknowledge(acked, acked, now, null, null);

    /// <summary>
    /// <see cref="Acknowledge(long, long)"/>, where the node also has up to <paramref name="received"/> in its sessions
    /// but holds back the acknowledgement of <paramref name="acked"/> + 1, whose subscriber there is behind
    /// (<see cref="ForwardAck"/>): the forwards after that one are not sent again (<see cref="Rewind"/>), count as
    /// progress (<see cref="IsStalled"/>), and their publishers are acknowledged, all but share groups' (which may yet
    /// come back unserved); they are forgotten when the acknowledgement reaches them. The node may say of some forwards
    /// that it could not serve share groups they were for (<paramref name="unserved"/>, by number): those are handed to
    /// <paramref name="returned"/> with their waiters still open, for <see cref="ShareRedispatch"/> to place on another node.
    /// </summary>
    public int Acknowledge(long acked, long received, long now, List<ForwardAck.Unserved>? unserved, List<ReturnedForward>? returned)
    {
        List<TaskCompletionSource>? done = null;
        TaskCompletionSource? drained = null;
        var removed = 0;
        lock (_lock)
        {
            while (_count > 0 && _ring[_head].Sequence <= acked)
            {
                ref var head = ref _ring[_head];
                var groups = unserved is null ? null : UnservedGroups(unserved, head.Sequence);
                if (groups is not null && returned is not null)
                    returned.Add(new ReturnedForward(head.Body, head.Waiter, head.Trail, groups));
                else if (head.Waiter is { } waiter)
                    (done ??= []).Add(waiter);
                RemoveHeadLocked();
                removed++;
            }
            if (removed > 0 || received > _received)
                _lastProgress = now;
            _received = Math.Max(_received, received);
            // Past the one held back: in the node's sessions, so their publishers go on (each looked at once).
            var oldest = OldestLocked();
            for (var sequence = Math.Max(Math.Max(acked + 2, _releasedThrough + 1), oldest); sequence <= Math.Min(_received, _lastSequence); sequence++)
            {
                ref var entry = ref _ring[(_head + (int)(sequence - oldest)) & (_ring.Length - 1)];
                if (entry.Waiter is { } waiter && (entry.Body.Length == 0 || entry.Body[0] != ForwardCodec.ScopedMarker))
                {
                    (done ??= []).Add(waiter);
                    entry.Waiter = null;
                }
            }
            _releasedThrough = Math.Max(_releasedThrough, _received);
            if (_count <= LowMark && _drained is not null)
            {
                drained = _drained;
                _drained = null;
            }
        }
        Complete(done, drained);
        return removed;
    }

    private static (string Group, string Filter)[]? UnservedGroups(List<ForwardAck.Unserved> unserved, long sequence)
    {
        foreach (var entry in unserved)
        {
            if (entry.Sequence == sequence)
                return entry.Groups;
        }
        return null;
    }

    /// <summary>
    /// Sends again, in order, what was sent and not received (a gap, or a stall): the next <see cref="TakeBatch"/>
    /// starts after the newest number the node said it received. When it received everything sent and only its
    /// acknowledgement is missing (held back, or lost on the way), the newest is sent once more: a forward it has is
    /// answered with its acknowledgement. Returns how many forwards that sends again (0: nothing was sent unacknowledged).
    /// </summary>
    public int Rewind(long now)
    {
        lock (_lock)
        {
            var oldest = OldestLocked();
            if (_count == 0 || _nextToSend <= oldest)
                return 0;
            var from = Math.Min(Math.Max(oldest, _received + 1), _nextToSend - 1);
            var again = (int)(_nextToSend - from);
            _nextToSend = from;
            LastResend = now;
            _lastProgress = now;
            return again;
        }
    }

    /// <summary>Whether forwards wait for an acknowledgement with no progress for <paramref name="after"/> (timestamps) and none sent again for as long.</summary>
    public bool IsStalled(long now, long after)
    {
        lock (_lock)
            return _count > 0 && _nextToSend > _ring[_head].Sequence && now - _lastProgress >= after && now - LastResend >= after;
    }

    /// <summary>
    /// Completes the waiters of forwards queued before <paramref name="before"/> (cluster.node_timeout ago) that the
    /// node has not acknowledged while it still announces itself: their publishers get PUBACK/PUBREC. The forwards stay
    /// and are still sent until acknowledged. The back-pressure wait ends too if the oldest is that old (publishers go
    /// on, one message each, and wait again). Returns how many waiters were released.
    /// </summary>
    public int ReleaseOlderThan(long before)
    {
        List<TaskCompletionSource>? done = null;
        TaskCompletionSource? drained = null;
        lock (_lock)
        {
            for (var i = 0; i < _count; i++)
            {
                ref var entry = ref _ring[(_head + i) & (_ring.Length - 1)];
                if (entry.QueuedAt >= before)
                    break;
                if (entry.Waiter is { } waiter)
                {
                    (done ??= []).Add(waiter);
                    entry.Waiter = null;
                }
            }
            if (_count > 0 && _ring[_head].QueuedAt < before && _drained is not null)
            {
                drained = _drained;
                _drained = null;
            }
        }
        Complete(done, drained);
        return done?.Count ?? 0;
    }

    /// <summary>
    /// The node is down, gone or left: nothing is kept for it, every waiter completes (the publishers get their
    /// PUBACK/PUBREC: the message reached the other nodes), and nothing is queued until <see cref="Open"/>. Returns how
    /// many reliable forwards were released unacknowledged.
    /// </summary>
    public int Forget() => Forget(null);

    /// <summary>
    /// <see cref="Forget()"/>, but the forwards that were for share groups (<see cref="ForwardCodec.ScopedMarker"/>) go
    /// to <paramref name="returned"/> with their waiters still open, for <see cref="ShareRedispatch"/> to place on
    /// another node with members; they are not counted as released.
    /// </summary>
    public int Forget(List<ReturnedForward>? returned)
    {
        List<TaskCompletionSource>? done = null;
        TaskCompletionSource? drained;
        lock (_lock)
        {
            _open = false;
            while (_count > 0)
            {
                ref var head = ref _ring[_head];
                if (returned is not null && head.Body.Length > 0 && head.Body[0] == ForwardCodec.ScopedMarker)
                    returned.Add(new ReturnedForward(head.Body, head.Waiter, head.Trail, null));
                else if (head.Waiter is { } waiter)
                    (done ??= []).Add(waiter);
                RemoveHeadLocked();
            }
            _nextToSend = _lastSequence + 1;
            _received = _lastSequence; // numbers go on from here when it is up again
            drained = _drained;
            _drained = null;
        }
        Complete(done, drained);
        return done?.Count ?? 0;
    }

    /// <summary>The node is up: forwards are queued for it again (numbered on from where they were).</summary>
    public void Open()
    {
        lock (_lock)
            _open = true;
    }

    private long OldestLocked() => _count > 0 ? _ring[_head].Sequence : _lastSequence + 1;

    private void RemoveHeadLocked()
    {
        _ring[_head] = default;
        _head = (_head + 1) & (_ring.Length - 1);
        _count--;
    }

    private void Grow()
    {
        var bigger = new Entry[_ring.Length * 2];
        for (var i = 0; i < _count; i++)
            bigger[i] = _ring[(_head + i) & (_ring.Length - 1)];
        _ring = bigger;
        _head = 0;
    }

    private static void Complete(List<TaskCompletionSource>? done, TaskCompletionSource? drained)
    {
        if (done is not null)
        {
            foreach (var waiter in done)
                waiter.TrySetResult();
        }
        drained?.TrySetResult();
    }

    private struct Entry(long sequence, byte[] body, TaskCompletionSource? waiter, long queuedAt)
    {
        public readonly long Sequence = sequence;
        public readonly byte[] Body = body;
        public TaskCompletionSource? Waiter = waiter;
        public readonly long QueuedAt = queuedAt;

        /// <summary>For a redispatched share-group forward, the nodes tried before; null for every other forward.</summary>
        public RedispatchTrail? Trail;
    }
}
