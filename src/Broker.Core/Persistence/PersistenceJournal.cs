using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Persistence;

/// <summary>
/// What sessions change, on its way to the <see cref="IPersistentStore"/>: puts and deletes gather in memory, where a
/// delete of a key put since the last write cancels both (a message acknowledged within the window never touches the
/// disk), and one task writes them as one batch: every <c>persistence.interval</c> (periodic), and at once when someone
/// waits for durability (<see cref="CommitAsync"/>: sync mode, and a clean stop). Those waiting meanwhile share that
/// write and its fsync (group commit).
/// </summary>
/// <remarks>
/// A batch that fails (disk full) stays pending and is retried each interval; waiters get the exception, so the
/// publisher is told its message was not taken (MQTT 5 reason code), and the broker serves on.
/// </remarks>
internal sealed partial class PersistenceJournal : IAsyncDisposable
{
    private readonly IPersistentStore _store;
    private readonly TimeSpan _interval;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private Dictionary<string, Entry> _pending = new(StringComparer.Ordinal);
    private TaskCompletionSource? _committed; // completes when what is pending now is durable
    private TaskCompletionSource? _writing;   // completes when the batch being written now is durable
    private int _holds;                       // groups of changes in progress that must land in one batch (Hold)
    private bool _swapWanted;                 // the writer waits for the holds to end; new ones wait for it
    private TaskCompletionSource? _holdsEnded;
    private TaskCompletionSource? _swapped;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _writer;
    private long _writes;
    private long _written;
    private long _failures;
    private double _lastWriteMs;

    public PersistenceJournal(IPersistentStore store, TimeSpan interval, ILogger logger)
    {
        _store = store;
        _interval = interval;
        _logger = logger;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Records waiting to be written.</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
                return _pending.Count;
        }
    }

    /// <summary>Batches written so far.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Records written so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Batches that failed (and were retried).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>How long the last batch took to be durable (write and fsync), in milliseconds.</summary>
    public double LastWriteMilliseconds => Volatile.Read(ref _lastWriteMs);

    public long SizeOnDisk => _store.SizeOnDisk;

    /// <summary>Sets <paramref name="key"/>; <paramref name="isNew"/> = no earlier value of it can be on disk (a new message).</summary>
    public void Put(string key, byte[] value, bool isNew)
    {
        lock (_lock)
        {
            ref var entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_pending, key, out var existed);
            entry = new Entry(value, existed ? entry.New : isNew);
        }
    }

    /// <summary>Removes <paramref name="key"/>; a key put since the last write and never written is simply forgotten.</summary>
    public void Delete(string key)
    {
        lock (_lock)
        {
            if (_pending.TryGetValue(key, out var entry) && entry.New)
                _pending.Remove(key);
            else
                _pending[key] = new Entry(null, false);
        }
    }

    /// <summary>Completes when everything put or deleted before this call is durable; faults when the write fails.</summary>
    public Task CommitAsync()
    {
        lock (_lock)
        {
            if (_pending.Count == 0 && _committed is null)
                return _writing?.Task ?? Task.CompletedTask;
            var committed = _committed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _wake.Release();
            return committed.Task;
        }
    }

    private async Task WriteLoopAsync()
    {
        var token = _stop.Token;
        while (true)
        {
            try
            {
                await _wake.WaitAsync(_interval, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await WriteOnceAsync().ConfigureAwait(false); // a clean stop writes what is left
                return;
            }
            await WriteOnceAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Starts a group of changes that must reach the disk together or not at all (an incoming QoS 2 message: its packet
    /// id and the copies routed to sessions), so a crash cannot keep the id and lose the copies. The writer waits for the
    /// groups in progress before it takes the batch; a group begun while it waits starts after the swap.
    /// </summary>
    public async ValueTask HoldAsync()
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (!_swapWanted)
                {
                    _holds++;
                    return;
                }
                wait = (_swapped ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            await wait.ConfigureAwait(false);
        }
    }

    /// <summary>Ends a group begun with <see cref="HoldAsync"/>.</summary>
    public void Unhold()
    {
        lock (_lock)
        {
            if (--_holds == 0 && _swapWanted)
                _holdsEnded?.TrySetResult();
        }
    }

    private async Task WriteOnceAsync()
    {
        Task? holdsEnded = null;
        lock (_lock)
        {
            if (_holds > 0)
            {
                _swapWanted = true;
                holdsEnded = (_holdsEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
        }
        if (holdsEnded is not null)
            await holdsEnded.ConfigureAwait(false);
        WriteOnce();
    }

    /// <summary>Writes what is pending as one batch; completes (or faults) the commit that waited for it.</summary>
    private void WriteOnce()
    {
        Dictionary<string, Entry> batch;
        TaskCompletionSource committed;
        lock (_lock)
        {
            if (_pending.Count == 0)
            {
                _committed?.TrySetResult();
                _committed = null;
                ReleaseHoldsLocked();
                return;
            }
            batch = _pending;
            _pending = new Dictionary<string, Entry>(StringComparer.Ordinal);
            committed = _writing = _committed ?? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _committed = null;
            ReleaseHoldsLocked();
        }
        var started = Stopwatch.GetTimestamp();
        try
        {
            _store.Apply(batch.Select(static e => new KeyValuePair<string, byte[]?>(e.Key, e.Value.Value)).ToList());
            Volatile.Write(ref _lastWriteMs, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Interlocked.Increment(ref _writes);
            Interlocked.Add(ref _written, batch.Count);
            Finish(committed, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _failures);
            LogWriteFailed(_logger, ex.Message);
            lock (_lock)
            {
                // Put the batch back under what came since (newer values win).
                foreach (var (key, entry) in batch)
                    _pending.TryAdd(key, entry);
            }
            Finish(committed, ex);
        }
    }

    /// <summary>The batch is taken: groups waiting to begin may.</summary>
    private void ReleaseHoldsLocked()
    {
        _swapWanted = false;
        _holdsEnded = null;
        _swapped?.TrySetResult();
        _swapped = null;
    }

    private void Finish(TaskCompletionSource committed, Exception? failure)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_writing, committed))
                _writing = null;
        }
        if (failure is null)
            committed.TrySetResult();
        else
            committed.TrySetException(failure);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _writer.ConfigureAwait(false);
        _stop.Dispose();
        _wake.Dispose();
        _store.Dispose();
    }

    /// <param name="Value">The value, or null for a delete.</param>
    /// <param name="New">Put since the last write with no earlier value possibly on disk.</param>
    private readonly record struct Entry(byte[]? Value, bool New);

    [LoggerMessage(EventId = 60, Level = LogLevel.Error, Message = "Persistence: writing to the store failed ({Reason}); kept in memory and retried; QoS 1/2 publishes that wait for the disk are refused meanwhile")]
    private static partial void LogWriteFailed(ILogger logger, string reason);
}
