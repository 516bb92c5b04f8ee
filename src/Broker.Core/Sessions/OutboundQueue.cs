using System.Threading.Tasks.Sources;

namespace Broker.Core.Sessions;

/// <summary>
/// One connection's queue of packets for its writer loop: many writers (publishers' threads delivering, the read
/// loop acknowledging), one reader. It is what <c>Channel.CreateUnbounded</c> would be, minus the 32-slot segment
/// that channel allocates for every connection up front. One item waits in a slot of its own; a queue is created
/// only when a second item arrives before the writer has taken the first, so an idle connection (or one sent a
/// message at a time) never has one. Writers take a lock only long enough to enqueue; the reader is woken once per
/// batch.
/// </summary>
/// <typeparam name="T">The queued item.</typeparam>
internal sealed class OutboundQueue<T> : IValueTaskSource<bool>
{
    private readonly Lock _lock = new();
    private T _single = default!;
    private bool _hasSingle;       // _single is the oldest item; _items only holds items that came after it
    private Queue<T>? _items;
    private ManualResetValueTaskSourceCore<bool> _reader = new() { RunContinuationsAsynchronously = true };
    private bool _readerWaiting;
    private bool _completed;

    /// <summary>Queues <paramref name="item"/>; false once <see cref="Complete"/> has been called.</summary>
    public bool TryWrite(T item)
    {
        lock (_lock)
        {
            if (_completed)
                return false;
            if (!_hasSingle && (_items is null || _items.Count == 0))
            {
                _single = item;
                _hasSingle = true;
            }
            else
            {
                (_items ??= new Queue<T>()).Enqueue(item);
            }
            if (!_readerWaiting)
                return true;
            _readerWaiting = false;
        }
        _reader.SetResult(true);
        return true;
    }

    /// <summary>No more writes; the reader drains what is queued, then <see cref="WaitToReadAsync"/> answers false.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            if (_completed)
                return;
            _completed = true;
            if (!_readerWaiting)
                return;
            _readerWaiting = false;
        }
        // A waiting reader had found the queue empty, and no write has come since (it would have woken it).
        _reader.SetResult(false);
    }

    /// <summary>Takes the next item, if any. Reader only.</summary>
    public bool TryRead(out T item)
    {
        lock (_lock)
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

    /// <summary>True once an item is queued; false when the queue is completed and empty. Reader only, one wait at a time.</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (_lock)
        {
            if (_hasSingle || _items is { Count: > 0 })
                return new ValueTask<bool>(true);
            if (_completed)
                return new ValueTask<bool>(false);
            _reader.Reset();
            _readerWaiting = true;
            return new ValueTask<bool>(this, _reader.Version);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _reader.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _reader.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _reader.OnCompleted(continuation, state, token, flags);
}
