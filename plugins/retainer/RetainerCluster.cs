using System.Text;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.Retainer;

/// <summary>
/// The retained messages of a cluster's nodes kept the same (issue 24): each node stores what is published on it and
/// tells the retainer on every other node (<see cref="IPluginCluster.Broadcast"/>); when a node comes up (it started,
/// or is heard again after a split), the two compare by asking each other for everything they hold, in pages. Two
/// versions of one topic are decided by publish time, the later wins (EMQX's replicated table: the last write), so a
/// node's clock matters as it does for EMQX; a deletion wins over an older message by the time it was made, remembered
/// for the last <see cref="MaxTombstones"/> deleted topics, in memory (see README).
/// </summary>
internal sealed partial class RetainerCluster(RetainerPlugin retainer, IPluginCluster cluster, ILogger logger, CancellationToken stopping)
    : IPluginClusterListener
{
    /// <summary>Deleted topics remembered, so a node that missed a deletion cannot bring the message back.</summary>
    internal const int MaxTombstones = 100_000;

    /// <summary>How much one page of a node's retained messages holds (NATS refuses messages over 1 MB by default).</summary>
    internal const int PageBytes = 256 * 1024;

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private readonly Dictionary<string, DateTimeOffset> _tombstones = new(StringComparer.Ordinal);
    private readonly Queue<string> _tombstoneOrder = new();

    /// <summary>A change made on this node: the other nodes' retainers apply it too.</summary>
    public void Published(string topic, BrokerMessage message)
    {
        if (message.Payload.IsEmpty)
            RememberDeleted(topic, message.Timestamp);
        else
            lock (_tombstones)
                _tombstones.Remove(topic);
        if (!cluster.Enabled)
            return;
        using var stream = new MemoryStream();
        RetainedRecords.Write(stream, topic, message);
        cluster.Broadcast(stream.ToArray());
    }

    /// <summary>Whether a message from another node is newer than what this node has for its topic (message or deletion).</summary>
    public bool IsNewer(BrokerMessage incoming, BrokerMessage? current)
    {
        if (current is not null && current.Timestamp >= incoming.Timestamp)
            return false;
        lock (_tombstones)
            return !_tombstones.TryGetValue(incoming.Topic, out var deleted) || deleted < incoming.Timestamp;
    }

    public void RememberDeleted(string topic, DateTimeOffset at)
    {
        lock (_tombstones)
        {
            if (_tombstones.TryGetValue(topic, out var known) && known >= at)
                return;
            if (_tombstones.Count >= MaxTombstones)
            {
                while (_tombstoneOrder.TryDequeue(out var oldest) && !_tombstones.Remove(oldest))
                {
                }
            }
            if (!_tombstones.ContainsKey(topic))
                _tombstoneOrder.Enqueue(topic);
            _tombstones[topic] = at;
        }
    }

    /// <summary>Asks <paramref name="node"/> for every retained message it holds, page by page, and keeps the newer ones.</summary>
    public async Task PullAsync(string node)
    {
        var cursor = "";
        var received = 0;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                while (true)
                {
                    var page = await cluster.RequestAsync(node, Encoding.UTF8.GetBytes(cursor), RequestTimeout, stopping).ConfigureAwait(false);
                    if (page.Length == 0)
                        break;
                    using var stream = new MemoryStream(page, 1, page.Length - 1, writable: false);
                    foreach (var (topic, message) in RetainedRecords.ReadAll(stream, legacy: false, out _))
                    {
                        cursor = topic;
                        if (message is not null)
                        {
                            retainer.MergeRemote(message);
                            received++;
                        }
                    }
                    if (page[0] == 0)
                        break;
                }
                LogPulled(logger, received, node);
                return;
            }
            catch (PluginClusterException ex) when (attempt < 3)
            {
                // The node may have come up a moment before its retainer listens: ask again shortly.
                LogPullRetry(logger, node, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(attempt), stopping).ConfigureAwait(false);
            }
            catch (PluginClusterException ex)
            {
                LogPullFailed(logger, node, ex.Message);
                return;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask OnMessageAsync(string fromNode, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(message.ToArray(), writable: false);
        foreach (var (_, record) in RetainedRecords.ReadAll(stream, legacy: false, out _))
        {
            if (record is not null)
                retainer.MergeRemote(record);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// One page of this node's retained messages and deletions, in topic order after the cursor (the request, the last
    /// topic of the previous page): a byte saying whether more follow, then the records.
    /// </summary>
    public ValueTask<byte[]> OnRequestAsync(string fromNode, ReadOnlyMemory<byte> request, CancellationToken cancellationToken)
    {
        var cursor = Encoding.UTF8.GetString(request.Span);
        var all = new SortedDictionary<string, BrokerMessage>(StringComparer.Ordinal);
        foreach (var message in retainer.Snapshot())
        {
            if (string.CompareOrdinal(message.Topic, cursor) > 0)
                all[message.Topic] = message;
        }
        lock (_tombstones)
        {
            foreach (var (topic, at) in _tombstones)
            {
                if (string.CompareOrdinal(topic, cursor) > 0 && !all.ContainsKey(topic))
                    all[topic] = new BrokerMessage { Topic = topic, Retain = true, Timestamp = at };
            }
        }
        using var page = new MemoryStream();
        page.WriteByte(0);
        foreach (var (topic, message) in all)
        {
            if (page.Length > PageBytes)
            {
                page.GetBuffer()[0] = 1;
                break;
            }
            RetainedRecords.Write(page, topic, message);
        }
        return ValueTask.FromResult(page.ToArray());
    }

    /// <inheritdoc />
    public void OnNodeUp(string node) => _ = PullAsync(node);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "retainer: compared with node {Node}: {Count} retained messages and deletions received")]
    private static partial void LogPulled(ILogger logger, int count, string node);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Information, Message = "retainer: node {Node} did not answer yet ({Reason}); asking again")]
    private static partial void LogPullRetry(ILogger logger, string node, string reason);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Warning, Message = "retainer: could not compare retained messages with node {Node}: {Reason}")]
    private static partial void LogPullFailed(ILogger logger, string node, string reason);
}
