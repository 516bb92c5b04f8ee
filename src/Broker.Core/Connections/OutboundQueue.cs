using Broker.Core.Hosting;

namespace Broker.Core.Connections;

/// <summary>
/// One connection's queue of packets for its writer: many writers (publishers' threads delivering, the read loop
/// acknowledging), one drain at a time. There is no writer loop waiting on it: the first item written to an idle
/// queue schedules its drainer where its owner's writers run (<see cref="IWriterScheduler"/>), and the drainer ends
/// when it finds the queue empty, so an idle connection holds neither a suspended loop nor a pending wait. One item
/// waits in a slot of its own; a queue is created only when a second arrives before the drainer has taken the first.
/// Writers take the lock only long enough to enqueue.
/// </summary>
/// <remarks>
/// A struct kept in its owner's field (<c>ClientChannel</c>), so a connection holds no queue object of its own (an
/// object header and a back-pointer less: bench/README.md). Every method takes the owner, which is both the lock (its
/// monitor: nothing else may lock it) and the drainer: scheduled when an item arrives while no drain is running, it
/// reads with <see cref="TryRead"/> until <see cref="TryEndDrain"/> agrees that it may stop. Never copy it.
/// </remarks>
/// <typeparam name="T">The queued item.</typeparam>
internal struct OutboundQueue<T>
{
    private T _single;
    private bool _hasSingle;       // _single is the oldest item; _items only holds items that came after it
    private Queue<T>? _items;
    private bool _draining;        // a drain is scheduled or running; true whenever an item waits (until Abandon)
    private bool _completed;
    private TaskCompletionSource? _drained; // WhenDrainedAsync while a drain runs

    private readonly bool IsEmpty => !_hasSingle && (_items is null || _items.Count == 0);

    /// <summary>
    /// Queues <paramref name="item"/>, scheduling the drainer on <paramref name="writers"/> if none runs; false once
    /// <see cref="Complete"/> has been called.
    /// </summary>
    public bool TryWrite(IThreadPoolWorkItem owner, IWriterScheduler writers, T item)
    {
        lock (owner)
        {
            if (_completed)
                return false;
            if (IsEmpty)
            {
                _single = item;
                _hasSingle = true;
            }
            else
            {
                (_items ??= new Queue<T>()).Enqueue(item);
            }
            if (_draining)
                return true;
            _draining = true;
        }
        writers.Schedule(owner);
        return true;
    }

    /// <summary>No more writes; a running drain still writes what is queued.</summary>
    public void Complete(IThreadPoolWorkItem owner)
    {
        lock (owner)
            _completed = true;
    }

    /// <summary>Takes the next item, if any. Drainer only.</summary>
    public bool TryRead(IThreadPoolWorkItem owner, out T item)
    {
        lock (owner)
        {
            if (_hasSingle)
            {
                item = _single;
                _single = default!;
                _hasSingle = false;
                return true;
            }
            if (_items is not null)
                return _items.TryDequeue(out item!);
            item = default!;
            return false;
        }
    }

    /// <summary>
    /// Drainer only, after it found nothing to read: true when the queue is still empty and the drain is over (the
    /// next write schedules a new one); false when items arrived meanwhile and it must go on.
    /// </summary>
    public bool TryEndDrain(IThreadPoolWorkItem owner)
    {
        TaskCompletionSource? drained;
        lock (owner)
        {
            if (!IsEmpty)
                return false;
            _draining = false;
            drained = _drained;
            _drained = null;
        }
        drained?.TrySetResult();
        return true;
    }

    /// <summary>Drainer only, when it cannot write any more (the connection is gone): no more writes, the rest is dropped, the drain is over.</summary>
    public void Abandon(IThreadPoolWorkItem owner)
    {
        TaskCompletionSource? drained;
        lock (owner)
        {
            _completed = true;
            _single = default!;
            _hasSingle = false;
            _items = null;
            _draining = false;
            drained = _drained;
            _drained = null;
        }
        drained?.TrySetResult();
    }

    /// <summary>After <see cref="Complete"/>: completes once no drain is running, that is, everything queued has been written (or abandoned).</summary>
    public Task WhenDrainedAsync(IThreadPoolWorkItem owner)
    {
        lock (owner)
        {
            if (!_draining)
                return Task.CompletedTask;
            return (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }
}
