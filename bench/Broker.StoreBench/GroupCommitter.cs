using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Broker.StoreBench;

/// <summary>
/// The store writer a broker would run: publishers append to a shared open batch; one thread commits it (write +
/// fsync, through <see cref="IMessageStore.Commit"/>) and then completes every appender's task at once.
/// With an interval it commits on a clock (periodic durability: written within the interval, appenders do not wait);
/// without one it commits as soon as the previous commit is done (group commit: many appenders share one fsync).
/// Acks ride along: each message is deleted once <c>ackLag</c> newer messages have been committed, in a later batch.
/// </summary>
internal sealed class GroupCommitter : IDisposable
{
    private readonly IMessageStore _store;
    private readonly TimeSpan? _interval;
    private readonly int _ackLag;
    // An object, not a Lock: the committer waits on it with Monitor.Wait.
    private readonly object _gate = new();
    private readonly Queue<byte[]> _unacked = new();
    private readonly Thread _thread;
    private List<StoreOp> _open = [];
    private List<StoreOp> _committing = [];
    private TaskCompletionSource _openDone = NewBatch();
    private bool _stopping;
    private long _committed;
    private long _batches;

    public GroupCommitter(IMessageStore store, TimeSpan? interval, int ackLag)
    {
        _store = store;
        _interval = interval;
        _ackLag = ackLag;
        _thread = new Thread(Run) { Name = "store-commit", IsBackground = true };
        _thread.Start();
    }

    /// <summary>Messages committed so far (deletes not counted).</summary>
    public long Committed => Interlocked.Read(ref _committed);

    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Adds a message to the open batch; the task completes when that batch is durable.</summary>
    public Task Append(StoreOp op, out int openCount)
    {
        lock (_gate)
        {
            _open.Add(op);
            openCount = _open.Count;
            if (openCount == 1)
            {
                Monitor.Pulse(_gate);
            }
            return _openDone.Task;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        _thread.Join();
    }

    private void Run()
    {
        var nextTick = Stopwatch.GetTimestamp();
        var nextMaintenance = nextTick + Stopwatch.Frequency;
        while (true)
        {
            if (_interval is { } interval)
            {
                nextTick += (long)(interval.TotalSeconds * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), nextTick);
                if (wait > TimeSpan.Zero)
                {
                    Thread.Sleep(wait);
                }
                else
                {
                    nextTick = Stopwatch.GetTimestamp();
                }
            }

            TaskCompletionSource done;
            lock (_gate)
            {
                while (_interval is null && _open.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }
                if (_stopping)
                {
                    _openDone.TrySetResult();
                    return;
                }
                (_open, _committing) = (_committing, _open);
                done = _openDone;
                _openDone = NewBatch();
            }

            var messages = _committing.Count;
            while (_unacked.Count > _ackLag)
            {
                _committing.Add(StoreOp.Delete(_unacked.Dequeue()));
            }
            try
            {
                if (_committing.Count > 0)
                {
                    _store.Commit(CollectionsMarshal.AsSpan(_committing));
                }
                if (Stopwatch.GetTimestamp() > nextMaintenance)
                {
                    _store.Maintain();
                    nextMaintenance = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
                }
            }
            catch (Exception e)
            {
                // Appenders of this batch and of every later one see the engine's failure instead of waiting forever.
                lock (_gate)
                {
                    _stopping = true;
                    _openDone.TrySetException(e);
                }
                done.SetException(e);
                return;
            }
            for (var i = 0; i < messages; i++)
            {
                _unacked.Enqueue(_committing[i].Key);
            }
            _committing.Clear();
            Interlocked.Add(ref _committed, messages);
            Interlocked.Increment(ref _batches);
            done.SetResult();
        }
    }

    private static TaskCompletionSource NewBatch() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
