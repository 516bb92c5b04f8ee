using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.DelayedPublish;

/// <summary>
/// Delayed messages that survive their node, in a cluster: each accepted message is written to the plugin's replicated
/// store (<see cref="IPluginCluster.OpenStoreAsync"/>, a JetStream key-value bucket with cluster.owner_replicas copies)
/// before it is acknowledged, and every node running the plugin holds every pending message of the cluster in its
/// queue. When one falls due, exactly one node publishes it: the node it was published to (its origin) while that node
/// runs; if the origin is down, the first running node by name. Whoever publishes first deletes the store's entry by
/// compare-and-delete on the revision it holds; only the node whose delete succeeds publishes, the others forget it.
/// </summary>
/// <remarks>
/// <para>So a message is published at most once even when nodes disagree about who is running (a split: the side
/// without NATS cannot delete, so it waits). A node that dies between its delete and its publish loses that one
/// message (the window is one local publish). A node that is not responsible looks again every
/// <see cref="DelayedQueue.ClaimRetry"/>: a survivor publishes an orphaned message within cluster.node_timeout of its
/// origin's death, or at its due time if the origin died before.</para>
/// <para>Store entry: key <c>d.&lt;guid&gt;</c>; value = origin node (BinaryWriter string), due time (UTC ticks), the
/// message in <see cref="BrokerMessageCodec"/> form.</para>
/// </remarks>
/// <param name="cluster">The node's cluster (<see cref="IPluginContext.Cluster"/>).</param>
/// <param name="logger">The plugin's logger.</param>
/// <param name="storeTimeout">How long a publisher waits for the store (<see cref="DefaultStoreTimeout"/>; tests shorten it).</param>
internal sealed partial class DelayedCluster(IPluginCluster cluster, ILogger logger, TimeSpan? storeTimeout = null)
{
    /// <summary>The store's name: the bucket is <c>&lt;cluster.name&gt;-plg-delayed_publish-pending</c>.</summary>
    internal const string StoreName = "pending";

    /// <summary>How long a publisher waits for the store before its message is kept on this node alone.</summary>
    internal static readonly TimeSpan DefaultStoreTimeout = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _storeTimeout = storeTimeout ?? DefaultStoreTimeout;

    // The store's pending entries this node knows of (queued here), by key, with their revision.
    private readonly ConcurrentDictionary<string, ulong> _pending = new(StringComparer.Ordinal);
    // Writes that did not answer in time: their messages are kept here alone. If one landed after all, the watch
    // deletes it again, so that no other node publishes a second copy.
    private readonly ConcurrentDictionary<string, byte> _abandoned = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private IPluginClusterStore? _store;
    private Task _watching = Task.CompletedTask;

    /// <summary>Whether the node is in a cluster now (plugins start before it joins; it may leave and join).</summary>
    public bool Enabled => cluster.Enabled;

    /// <summary>Starts watching the store: every pending message of the cluster goes into <paramref name="queue"/>.</summary>
    public void Start(DelayedQueue queue) => _watching = Task.Run(() => WatchAsync(queue, _stop.Token));

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _watching.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// Writes <paramref name="entry"/> to the store: returns it with its key, or null when the store does not answer
    /// within the store timeout (NATS down, a split): the caller keeps it on this node alone, as a single node
    /// does, and the write, should it land later, is undone by the watch.
    /// </summary>
    public async Task<DelayedEntry?> TryStoreAsync(DelayedEntry entry, string? clientId)
    {
        var key = "d." + Guid.NewGuid().ToString("N");
        try
        {
            using var timeout = new CancellationTokenSource(_storeTimeout);
            var store = await StoreAsync(timeout.Token).ConfigureAwait(false);
            var stored = entry with { Key = key, Origin = cluster.NodeName };
            var revision = await store.PutAsync(key, Encode(stored), timeout.Token).ConfigureAwait(false);
            _pending[key] = revision;
            return stored with { Revision = revision };
        }
        catch (Exception ex) when (ex is PluginClusterException or OperationCanceledException)
        {
            lock (_abandoned)
            {
                if (_pending.TryGetValue(key, out var revision))
                    return entry with { Key = key, Origin = cluster.NodeName, Revision = revision }; // the watch brought it meanwhile
                _abandoned.TryAdd(key, 0);
            }
            LogNotStored(logger, clientId, entry.Message.Topic, ex.Message);
            return null;
        }
    }

    /// <summary>A replicated message is due: whether this node publishes it (see the class summary).</summary>
    public async ValueTask<ClaimResult> ClaimAsync(DelayedEntry entry)
    {
        var key = entry.Key!;
        if (!_pending.TryGetValue(key, out var revision))
            return ClaimResult.Drop; // deleted from the store: another node published it
        if (!IsResponsible(entry.Origin))
            return ClaimResult.Later;
        try
        {
            using var timeout = new CancellationTokenSource(_storeTimeout);
            var store = await StoreAsync(timeout.Token).ConfigureAwait(false);
            var claimed = await store.DeleteAsync(key, revision, timeout.Token).ConfigureAwait(false);
            _pending.TryRemove(key, out _);
            if (claimed && entry.Origin != cluster.NodeName)
                LogTookOver(logger, entry.Message.Topic, entry.Origin ?? "?");
            return claimed ? ClaimResult.Publish : ClaimResult.Drop;
        }
        catch (Exception ex) when (ex is PluginClusterException or OperationCanceledException)
        {
            return ClaimResult.Later; // cannot tell whether someone else did: never publish unclaimed
        }
    }

    /// <summary>The origin while it runs; else the first running node by name (this one included).</summary>
    private bool IsResponsible(string? origin)
    {
        var self = cluster.NodeName;
        if (origin == self)
            return true;
        var running = cluster.RunningNodes();
        if (origin is not null && running.Contains(origin, StringComparer.Ordinal))
            return false;
        foreach (var node in running)
        {
            if (string.CompareOrdinal(node, self) < 0)
                return false;
        }
        return true;
    }

    /// <summary>A write given up on landed after all: its message is queued here alone, so the entry goes.</summary>
    private async Task UndoAsync(IPluginClusterStore store, PluginStoreEntry change, CancellationToken cancel)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(_storeTimeout);
            await store.DeleteAsync(change.Key, change.Revision, timeout.Token).ConfigureAwait(false);
            LogUndone(logger, change.Key);
        }
        catch (Exception ex) when (ex is PluginClusterException or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            LogUndoFailed(logger, change.Key, ex.Message);
        }
    }

    private async Task<IPluginClusterStore> StoreAsync(CancellationToken cancel) =>
        _store ??= await cluster.OpenStoreAsync(StoreName, cancel).ConfigureAwait(false);

    /// <summary>Takes the store's entries into the queue and forgets deleted ones, watching again after a failure.</summary>
    private async Task WatchAsync(DelayedQueue queue, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                if (!cluster.Enabled)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false);
                    continue; // a single node, or not joined yet: nothing to watch
                }
                var store = await StoreAsync(cancel).ConfigureAwait(false);
                await foreach (var change in store.WatchAsync(cancel).ConfigureAwait(false))
                {
                    if (!change.Key.StartsWith("d.", StringComparison.Ordinal))
                        continue;
                    if (change.Deleted)
                    {
                        _pending.TryRemove(change.Key, out _);
                        continue;
                    }
                    if (_pending.ContainsKey(change.Key) || Decode(change) is not { } entry)
                        continue;
                    bool abandoned, added = false;
                    lock (_abandoned)
                    {
                        if (!(abandoned = _abandoned.TryRemove(change.Key, out _)))
                            added = _pending.TryAdd(change.Key, change.Revision);
                    }
                    if (abandoned)
                        await UndoAsync(store, change, cancel).ConfigureAwait(false);
                    else if (added && !queue.TryRestore([entry]))
                        return; // sealed: this instance is stopping
                }
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is PluginClusterException or OperationCanceledException or InvalidDataException)
            {
                LogWatchFailed(logger, ex.Message);
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    internal static byte[] Encode(DelayedEntry entry)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(entry.Origin ?? "");
            writer.Write(entry.Due.UtcTicks);
            BrokerMessageCodec.Write(writer, entry.Message);
        }
        return stream.ToArray();
    }

    private DelayedEntry? Decode(PluginStoreEntry change)
    {
        try
        {
            using var stream = new MemoryStream(change.Value.ToArray(), writable: false);
            using var reader = new BinaryReader(stream, Encoding.UTF8);
            var origin = reader.ReadString();
            var due = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
            return new DelayedEntry(due, BrokerMessageCodec.Read(reader), change.Key, change.Revision, origin);
        }
        catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException or FormatException or ArgumentOutOfRangeException)
        {
            LogUnreadable(logger, change.Key, ex.Message);
            return null;
        }
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Warning, Message = "delayed_publish: the cluster's store does not answer ({Error}): the delayed message of {ClientId} to {Topic} is kept on this node alone and does not survive it")]
    private static partial void LogNotStored(ILogger logger, string? clientId, string topic, string error);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "delayed_publish: published the delayed message to {Topic} of node {Origin}, which is down")]
    private static partial void LogTookOver(ILogger logger, string topic, string origin);

    [LoggerMessage(EventId = 32, Level = LogLevel.Warning, Message = "delayed_publish: watching the cluster's store failed ({Error}); watching again")]
    private static partial void LogWatchFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 34, Level = LogLevel.Information, Message = "delayed_publish: the late write of {Key} reached the cluster's store after its message was kept on this node alone; deleted it again")]
    private static partial void LogUndone(ILogger logger, string key);

    [LoggerMessage(EventId = 35, Level = LogLevel.Warning, Message = "delayed_publish: deleting the late write of {Key} from the cluster's store failed ({Error}): if this node is down when it falls due, another node publishes it a second time")]
    private static partial void LogUndoFailed(ILogger logger, string key, string error);

    [LoggerMessage(EventId = 33, Level = LogLevel.Warning, Message = "delayed_publish: the cluster's entry {Key} cannot be read ({Error}): ignored")]
    private static partial void LogUnreadable(ILogger logger, string key, string error);
}
