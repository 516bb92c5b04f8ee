using Broker.Core.Connections;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Persistence;

/// <summary>
/// What sessions change, on its way to the <see cref="IPersistentStore"/>: puts and deletes gather in memory, where a
/// delete of a key put since the last write cancels both (a message acknowledged within the window never touches the
/// disk), and one task writes them as one batch. Periodic mode ticks every half <c>persistence.interval</c>: a tick
/// writes what changed before the previous tick and keeps what changed since for the next one, so every change is
/// written within the interval and none sooner than half of it (time for its acknowledgement to cancel it). Someone
/// waiting for durability (<see cref="CommitAsync"/>: sync mode, and a clean stop) has everything written at once;
/// those waiting meanwhile share that write and its fsync (group commit).
/// </summary>
/// <remarks>
/// <para>
/// Values are kept as the records they are (<see cref="IJournalValue"/>) and encoded by the writer, only for what
/// reaches the disk: most messages are acknowledged within the window and never encoded.
/// </para>
/// <para>
/// A batch that fails (disk full) stays pending and is retried each tick; waiters get the exception, so the
/// publisher is told its message was not taken (MQTT 5 reason code), and the broker serves on.
/// </para>
/// </remarks>
internal sealed partial class PersistenceJournal : IAsyncDisposable
{
    private readonly IPersistentStore _store;
    private readonly TimeSpan _interval;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    // What changed and is not written yet, each with the tick it changed in (one lookup per change).
    private readonly Dictionary<JournalKey, Entry> _pending = new();
    private int _tick; // the writer's tick count: what changed in an earlier tick is written at the next one
    private TaskCompletionSource? _committed; // completes when what is pending now is durable
    private TaskCompletionSource? _writing;   // completes when the batch being written now is durable
    private int _holds;                       // groups of changes in progress that must land in one batch (Hold)
    private bool _swapWanted;                 // the writer waits for the holds to end; new ones wait for it
    private TaskCompletionSource? _holdsEnded;
    private TaskCompletionSource? _swapped;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _writer;
    private Exception? _failure; // the last write's failure while the store refuses; null while it writes
    private long _retryAt;       // timestamp of the next try while it refuses
    private long _failingSince;
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);
    private long _writes;
    private long _written;
    private long _failures;
    private double _lastWriteMs;

    private readonly TimeProvider _time;

    public PersistenceJournal(IPersistentStore store, TimeSpan interval, ILogger logger, TimeProvider? time = null)
    {
        _store = store;
        _time = time ?? TimeProvider.System;
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

    /// <summary>
    /// True while the store refuses writes (disk full): the journal tries again every second, and new QoS 1/2 messages
    /// are refused meanwhile (<see cref="Connections.ClientChannel"/>).
    /// </summary>
    public bool IsFailing => Volatile.Read(ref _failure) is not null;

    /// <summary>How long the last batch took to be durable (write and fsync), in milliseconds.</summary>
    public double LastWriteMilliseconds => Volatile.Read(ref _lastWriteMs);

    public long SizeOnDisk => _store.SizeOnDisk;

    /// <summary>Sets <paramref name="key"/>; <paramref name="isNew"/> = no earlier value of it can be on disk (a new message).</summary>
    public void Put(JournalKey key, IJournalValue value, bool isNew)
    {
        lock (_lock)
        {
            // A newer value replaces a pending one but keeps its tick: the first unwritten change still reaches the
            // disk within the interval, however often the key changes after it.
            ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(_pending, key, out var existed);
            entry = existed ? new Entry(value, entry.New, entry.Tick) : new Entry(value, isNew, _tick);
        }
    }

    /// <inheritdoc cref="Put(JournalKey, IJournalValue, bool)"/>
    public void Put(JournalKey key, byte[] value, bool isNew) => Put(key, value.Length == 0 ? RawValue.Empty : new RawValue(value), isNew);

    /// <summary>Removes <paramref name="key"/>; a key put since the last write and never written is simply forgotten.</summary>
    public void Delete(JournalKey key)
    {
        lock (_lock)
        {
            // Usually the key's put is pending and never reached the disk: removing it is all there is to do.
            if (!_pending.Remove(key, out var entry) || !entry.New)
                _pending[key] = new Entry(null, false, _tick);
        }
    }

    /// <summary>Completes when everything put or deleted before this call is durable; faults when the write fails.</summary>
    public Task CommitAsync()
    {
        lock (_lock)
        {
            if (_pending.Count == 0 && _committed is null)
                return _writing?.Task ?? Task.CompletedTask;
            if (_committed is { } waiting)
                return waiting.Task; // the writer is already woken for it
            _committed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _wake.Release();
            return _committed.Task;
        }
    }

    private async Task WriteLoopAsync()
    {
        var token = _stop.Token;
        var tick = _interval / 2;
        while (true)
        {
            try
            {
                await _wake.WaitAsync(tick, token).ConfigureAwait(false);
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

    /// <summary>One tick of the writer (tests drive it directly with an interval that never elapses).</summary>
    internal async Task WriteOnceAsync()
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

    /// <summary>
    /// A tick: writes what changed before the previous tick as one batch, or everything when someone waits (a commit, a
    /// stop); completes (or faults) the commit that waited for it.
    /// </summary>
    private void WriteOnce()
    {
        var batch = new List<KeyValuePair<JournalKey, Entry>>();
        TaskCompletionSource committed;
        lock (_lock)
        {
            // Everything when someone waits; otherwise what changed before the previous tick.
            var before = _committed is not null || _stop.IsCancellationRequested ? int.MaxValue : _tick;
            _tick++;
            foreach (var (key, entry) in _pending)
            {
                if (entry.Tick < before)
                {
                    batch.Add(new(key, entry));
                    _pending.Remove(key);
                }
            }
            if (batch.Count == 0)
            {
                _committed?.TrySetResult();
                _committed = null;
                ReleaseHoldsLocked();
                return;
            }
            committed = _writing = _committed ?? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _committed = null;
            ReleaseHoldsLocked();
        }
        var started = Stopwatch.GetTimestamp();
        try
        {
            // While the store refuses (disk full), try it once per RetryInterval; meanwhile fail at once.
            if (Volatile.Read(ref _failure) is { } failure && _time.GetTimestamp() < Volatile.Read(ref _retryAt))
                throw failure;
            var records = new List<KeyValuePair<string, byte[]?>>(batch.Count);
            foreach (var (key, entry) in batch)
                records.Add(new(key.ToString(), entry.Value is null ? null : Encode(entry.Value)));
            _store.Apply(records);
            Volatile.Write(ref _lastWriteMs, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Interlocked.Increment(ref _writes);
            Interlocked.Add(ref _written, batch.Count);
            if (Interlocked.Exchange(ref _failure, null) is not null)
                LogWriteRecovered(_logger, _time.GetElapsedTime(_failingSince).TotalSeconds);
            Finish(committed, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (!ReferenceEquals(ex, _failure))
            {
                Interlocked.Increment(ref _failures);
                var now = _time.GetTimestamp();
                Volatile.Write(ref _retryAt, now + (long)(RetryInterval.TotalSeconds * _time.TimestampFrequency));
                if (Interlocked.Exchange(ref _failure, ex) is null)
                {
                    _failingSince = now;
                    LogWriteFailed(_logger, ex.Message);
                }
            }
            lock (_lock)
            {
                // Put the batch back under what came since (newer values win), for the next tick.
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
        _bufferWriter?.Dispose();
        _buffer.Dispose();
        _store.Dispose();
    }

    private readonly MemoryStream _buffer = new();
    private BinaryWriter? _bufferWriter;

    /// <summary>A value's bytes, through one buffer reused by the (single) writer.</summary>
    private byte[] Encode(IJournalValue value)
    {
        _buffer.SetLength(0);
        var writer = _bufferWriter ??= new BinaryWriter(_buffer, System.Text.Encoding.UTF8, leaveOpen: true);
        value.WriteTo(writer);
        writer.Flush();
        return _buffer.ToArray();
    }

    /// <param name="Value">The value, or null for a delete.</param>
    /// <param name="New">Put since the last write with no earlier value possibly on disk.</param>
    /// <param name="Tick">The writer's tick it changed in.</param>
    private readonly record struct Entry(IJournalValue? Value, bool New, int Tick);

    private sealed record RawValue(byte[] Bytes) : IJournalValue
    {
        public static readonly RawValue Empty = new([]);

        public void WriteTo(BinaryWriter writer) => writer.Write(Bytes);
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Error, Message = "Persistence: writing to the store failed ({Reason}); what is pending is kept in memory and retried every second; new QoS 1/2 publishes are refused meanwhile")]
    private static partial void LogWriteFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Persistence: the store writes again after {Seconds:0.#} s; QoS 1/2 publishes are accepted again")]
    private static partial void LogWriteRecovered(ILogger logger, double seconds);
}
