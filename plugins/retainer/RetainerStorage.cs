using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.Retainer;

/// <summary>
/// The retainer's files in its data directory: <c>retained.snapshot</c> (every retained message at one moment) and,
/// with <c>storage_type = disc</c>, <c>retained.log</c> (every change since that snapshot, appended by a background
/// writer).
/// </summary>
/// <remarks>
/// <para>Why a snapshot plus a log: a change costs one small append, written off the publish path in batches,
/// and a start reads one file of live messages plus the changes since it, then compacts (writes a new snapshot and
/// starts an empty log). Set and delete records carry the whole state of their topic, so replaying a log
/// over a snapshot that already contains some of its records gives the same result: the snapshot can be taken
/// while records are still queued, and a crash between writing a snapshot and emptying the log loses nothing.</para>
/// <para>With <c>ram</c> there is no log: the snapshot is written when the instance stops or hands over to a reloaded
/// one, tagged with the broker process's run id, and read only by an instance of the same broker process, so
/// retained messages survive reloads but not a broker restart, like EMQX's mnesia ram tables.</para>
/// </remarks>
internal sealed partial class RetainerStorage : IAsyncDisposable
{
    /// <summary>A log with more records than this (and more than twice the retained count) is compacted while running.</summary>
    internal const int CompactAfterRecords = 10_000;

    private readonly string _snapshotPath;
    private readonly string _logPath;
    private readonly bool _disc;
    private readonly string _runId;
    private readonly ILogger _logger;
    private readonly Channel<(string Topic, BrokerMessage? Message)> _queue =
        Channel.CreateUnbounded<(string, BrokerMessage?)>(new UnboundedChannelOptions { SingleReader = true });
    private RetainedStore? _store;
    private FileStream? _log;
    private Task? _writer;
    private long _sinceCompaction;
    private int _compactions;

    /// <summary>
    /// How many times the files were compacted (a new snapshot and an empty log): once at open with <c>disc</c>, then
    /// whenever the log writer's records since the last one pass the threshold. After <see cref="DisposeAsync"/>, every
    /// change queued before it has been written and counted.
    /// </summary>
    internal int Compactions => Volatile.Read(ref _compactions);

    public RetainerStorage(string directory, RetainerStorageType storageType, ILogger logger, string? runId = null)
    {
        _snapshotPath = Path.Combine(directory, "retained.snapshot");
        _logPath = Path.Combine(directory, "retained.log");
        _disc = storageType == RetainerStorageType.Disc;
        _runId = runId ?? CurrentRunId();
        _logger = logger;
    }

    /// <summary>This broker process: its id and start time, so a pid reused after a restart does not match.</summary>
    internal static string CurrentRunId()
    {
        using var process = Process.GetCurrentProcess();
        return $"{Environment.ProcessId}@{process.StartTime.ToUniversalTime().Ticks}";
    }

    /// <summary>Fills <paramref name="store"/> from the files, then (disc) compacts them and starts the log writer.</summary>
    /// <returns>The number of messages restored.</returns>
    public int Open(RetainedStore store, DateTimeOffset now)
    {
        _store = store;
        var restored = 0;
        if (File.Exists(_snapshotPath))
        {
            using var input = new FileStream(_snapshotPath, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
            string? writer = null;
            if (RetainedRecords.ReadMagic(input, RetainedRecords.SnapshotMagic, RetainedRecords.LegacySnapshotMagic, out var legacy))
            {
                using var reader = new BinaryReader(input, System.Text.Encoding.UTF8, leaveOpen: true);
                writer = reader.ReadString();
            }
            if (writer is null)
                Log.Unreadable(_logger, _snapshotPath);
            else if (!_disc && writer != _runId)
                Log.RamSnapshotIgnored(_logger, _snapshotPath);
            else
            {
                var records = RetainedRecords.ReadAll(input, legacy, out var torn);
                foreach (var (topic, message) in records)
                    store.Restore(topic, message, now);
                if (torn)
                    Log.Torn(_logger, _snapshotPath);
                restored = store.Count;
            }
        }
        if (_disc && File.Exists(_logPath))
        {
            using var input = new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
            if (!RetainedRecords.ReadMagic(input, RetainedRecords.LogMagic, RetainedRecords.LegacyLogMagic, out var legacy))
                Log.Unreadable(_logger, _logPath);
            else
            {
                var records = RetainedRecords.ReadAll(input, legacy, out var torn);
                foreach (var (topic, message) in records)
                    store.Restore(topic, message, now);
                if (torn)
                    Log.Torn(_logger, _logPath);
                Log.Replayed(_logger, records.Count, _logPath);
            }
            restored = store.Count;
        }
        if (_disc)
        {
            Compact();
            _writer = Task.Run(WriteLoopAsync);
        }
        else if (File.Exists(_logPath))
        {
            // Left by a disc instance: the ram snapshot written at stop will hold everything, and a later disc
            // instance must not replay these old records over it.
            File.Delete(_logPath);
        }
        return restored;
    }

    /// <summary>Queues one change for the log (disc only); called under the store's lock, so in the store's order.</summary>
    public void Enqueue(string topic, BrokerMessage? message)
    {
        if (_disc)
            _queue.Writer.TryWrite((topic, message));
    }

    /// <summary>
    /// Writes everything the store holds: waits for the log writer to drain (disc), then writes a snapshot and
    /// removes the log. Changes after this are not persisted: the instance is stopping or has handed over.
    /// </summary>
    public async ValueTask FlushAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is { } writer)
            await writer.ConfigureAwait(false);
        if (_store is null)
            return;
        CloseLog();
        WriteSnapshot(_store.Snapshot());
        if (File.Exists(_logPath))
            File.Delete(_logPath);
        _store = null;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is { } writer)
            await writer.ConfigureAwait(false);
        CloseLog();
    }

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            try
            {
                var batch = 0;
                while (reader.TryRead(out var change))
                {
                    RetainedRecords.Write(_log!, change.Topic, change.Message);
                    batch++;
                }
                // To the OS once per batch: a broker process that dies loses nothing written here.
                _log!.Flush();
                _sinceCompaction += batch;
                if (_sinceCompaction > Math.Max(CompactAfterRecords, 2L * _store!.Count))
                    Compact();
            }
            catch (IOException ex)
            {
                Log.WriteFailed(_logger, _logPath, ex.Message);
            }
        }
    }

    /// <summary>
    /// A new snapshot of the store, then an empty log. Records still queued are written to the new log: replaying
    /// them over a snapshot that already contains them is harmless (see remarks).
    /// </summary>
    private void Compact()
    {
        CloseLog();
        WriteSnapshot(_store!.Snapshot());
        _log = new FileStream(_logPath, FileMode.Create, FileAccess.Write, FileShare.Read, 64 * 1024);
        _log.Write(RetainedRecords.LogMagic);
        _log.Flush(flushToDisk: true);
        _sinceCompaction = 0;
        Interlocked.Increment(ref _compactions);
    }

    private void WriteSnapshot(List<BrokerMessage> messages)
    {
        var temporary = _snapshotPath + ".tmp";
        using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
        {
            output.Write(RetainedRecords.SnapshotMagic);
            using (var writer = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true))
                writer.Write(_runId);
            foreach (var message in messages)
                RetainedRecords.Write(output, message.Topic, message);
            output.Flush(flushToDisk: true);
        }
        File.Move(temporary, _snapshotPath, overwrite: true);
        Log.SnapshotWritten(_logger, messages.Count, _snapshotPath);
    }

    private void CloseLog()
    {
        if (_log is null)
            return;
        _log.Flush(flushToDisk: true);
        _log.Dispose();
        _log = null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "retainer: {Path} is not a retainer file; ignored")]
        public static partial void Unreadable(ILogger logger, string path);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "retainer: {Path} was written by an earlier broker process and storage_type is ram; starting empty")]
        public static partial void RamSnapshotIgnored(ILogger logger, string path);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "retainer: {Path} ends in a partial record (the broker stopped while writing it); the records before it were read")]
        public static partial void Torn(ILogger logger, string path);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Debug, Message = "retainer: replayed {Count} records of {Path}")]
        public static partial void Replayed(ILogger logger, int count, string path);

        [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "retainer: cannot write {Path}: {Error}")]
        public static partial void WriteFailed(ILogger logger, string path, string error);

        [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "retainer: wrote {Count} retained messages to {Path}")]
        public static partial void SnapshotWritten(ILogger logger, int count, string path);
    }
}
