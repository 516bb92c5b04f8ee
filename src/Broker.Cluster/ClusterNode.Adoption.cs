using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Broker.Cluster;

/// <summary>
/// A dead node's persistent sessions, adopted by one running node from the cluster's copies, so that what is published
/// for them while their clients are away queues there, and a client's CONNECT on any node then takes its session over
/// from that node with those messages.
/// </summary>
/// <remarks>
/// <para>When this node finds nodes down (silent past <c>cluster.node_timeout</c>; not a node that stopped or left,
/// which said so), and it is connected to NATS and the lowest-named node it knows running, it reads the session copies
/// those nodes wrote (listed by their key prefix, <see cref="CopyKey"/>: the pass reads the dead nodes' copies, not
/// the rest of the cluster's) and, for each whose client id the registry still gives to the dead node, claims the id
/// (compare-and-set on the registry's revision) and restores the copy offline, both under the id's connect lock. A
/// client that reconnected meanwhile has already moved the id, so the compare-and-set fails and nothing is adopted; two
/// nodes that both believe they are the lowest cannot both win one id. Once this node's own copy of an adopted session
/// is written, the dead node's is deleted.</para>
/// <para>Copies written by a node that keeps its sessions on disk (<c>persistence = on</c>) are left alone: that node's
/// sessions, with their messages, come back when it restarts.</para>
/// </remarks>
internal sealed partial class ClusterNode
{
    /// <summary>This node adopts the sessions of nodes found down: the lowest name among the running nodes it knows, itself included.</summary>
    private bool IsAdopter()
    {
        if (!NatsConnected)
            return false; // cut off itself: the others it finds down are most likely running
        lock (_members)
        {
            foreach (var node in _members.Values)
            {
                if (node.IsUp && string.CompareOrdinal(node.Name, NodeName) < 0)
                    return false;
            }
        }
        return true;
    }

    /// <summary>
    /// How long adopting one set of dead nodes' sessions is tried: JetStream answers nothing while it elects new leaders
    /// for its meta group and the sessions bucket, when a NATS server went with the node (seconds per group; 15 s and
    /// more were seen on a loaded 2-core machine), or for as long as a majority of the NATS servers is away.
    /// </summary>
    private static readonly TimeSpan AdoptionPatience = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The pauses between attempts: 2 s, doubling up to 15 s, adding up to <see cref="AdoptionPatience"/> (each attempt's
    /// own time, up to <c>cluster.node_timeout</c> when JetStream does not answer, comes on top).
    /// </summary>
    internal static IEnumerable<TimeSpan> AdoptionRetryDelays()
    {
        var total = TimeSpan.Zero;
        for (var delay = TimeSpan.FromSeconds(2); total + delay <= AdoptionPatience; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.TicksPerSecond * 15)))
        {
            total += delay;
            yield return delay;
        }
    }

    /// <summary>
    /// Adopts the sessions <paramref name="dead"/> nodes owned when they died (see the type's remarks); what could not be
    /// read or claimed is tried again (an adopted copy is not adopted twice: its id is this node's then) for
    /// <see cref="AdoptionPatience"/>, while this node is still the adopter and those nodes still down.
    /// </summary>
    private async Task AdoptSessionsAsync(IReadOnlyCollection<string> dead)
    {
        using var delays = AdoptionRetryDelays().GetEnumerator();
        while (true)
        {
            var failure = await AdoptOnceAsync(dead).ConfigureAwait(false);
            if (failure is null || _stop.IsCancellationRequested)
                return;
            var again = delays.MoveNext();
            LogAdoptionFailed(_logger, string.Join(", ", dead), failure,
                again ? $"trying again in {delays.Current.TotalSeconds:0} s" : "their clients resume the cluster's copies when they connect");
            if (!again)
                return;
            try
            {
                await Task.Delay(delays.Current, _core.TimeProvider, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (!IsAdopter() || dead.All(IsRunning))
                return;
        }
    }

    /// <summary>One pass over the copies: null when nothing failed, else why.</summary>
    private async Task<string?> AdoptOnceAsync(IReadOnlyCollection<string> dead)
    {
        try
        {
            var sessions = await _sessionsBucket.Task.WaitAsync(_options.NodeTimeout, _stop.Token).ConfigureAwait(false);
            var registry = await RegistryAsync().ConfigureAwait(false);
            if (registry is null)
                return "the client-id registry is not ready";
            var started = _core.TimeProvider.GetTimestamp();
            var adopted = new Dictionary<string, int>(StringComparer.Ordinal);
            var keys = new List<string>();
            // One filter per node: several filters in one consumer need NATS 2.10.
            foreach (var node in dead)
            {
                await foreach (var key in sessions.GetKeysAsync([CopyPrefix(node) + ">"], cancellationToken: _stop.Token).ConfigureAwait(false))
                    keys.Add(key);
            }
            var failed = 0;
            string? error = null;
            // Up to 64 at a time, as the copies are written; one that fails does not stop the others.
            foreach (var chunk in keys.Chunk(64))
            {
                var outcomes = await Task.WhenAll(chunk.Select(key => TryAdoptAsync(sessions, registry, key, dead))).ConfigureAwait(false);
                foreach (var (from, failure) in outcomes)
                {
                    if (from is not null)
                        adopted[from] = adopted.GetValueOrDefault(from) + 1;
                    if (failure is not null)
                        (failed, error) = (failed + 1, failure);
                }
            }
            foreach (var (node, count) in adopted)
                LogSessionsAdopted(_logger, count, node);
            LogAdoptionPass(_logger, string.Join(", ", dead), keys.Count, adopted.Values.Sum(), _core.TimeProvider.GetElapsedTime(started).TotalMilliseconds);
            return failed > 0 ? $"{failed} session(s): {error}" : null;
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException)
        {
            return ex.Message;
        }
    }

    /// <summary>
    /// Adopts one copy if a dead node wrote it and still owns its client id: the dead node's name when adopted, or why it
    /// could not be read or claimed (NATS or JetStream away).
    /// </summary>
    private async Task<(string? From, string? Failure)> TryAdoptAsync(INatsKVStore sessions, INatsKVStore registry, string key, IReadOnlyCollection<string> dead)
    {
        try
        {
            return (await AdoptCopyAsync(sessions, registry, key, dead).ConfigureAwait(false), null);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException || (ex is OperationCanceledException && !_stop.IsCancellationRequested))
        {
            return (null, ex.Message);
        }
    }

    private async Task<string?> AdoptCopyAsync(INatsKVStore sessions, INatsKVStore registry, string key, IReadOnlyCollection<string> dead)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(_options.NodeTimeout + TimeSpan.FromSeconds(1));
        NatsKVEntry<byte[]> entry;
        try
        {
            entry = await sessions.GetEntryAsync<byte[]>(key, cancellationToken: deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
        {
            return null;
        }
        var (writer, onDisk, record) = SplitCopy(entry.Value);
        if (writer is null || record is null || onDisk || !dead.Contains(writer) || IsRunning(writer)
            || CopyClientId(key) is not { } clientId || key != CopyKey(writer, clientId))
            return null;
        var owned = OwnerKey(clientId);
        var adopted = await _core.AdoptSessionAsync(clientId, record, async () =>
        {
            var (owner, _, revision) = await ReadOwnerAsync(registry, owned, deadline.Token).ConfigureAwait(false);
            if (owner != writer)
                return false; // its client has connected elsewhere (or it ended) since
            try
            {
                await registry.UpdateAsync(owned, OwnerValue, revision, cancellationToken: deadline.Token).ConfigureAwait(false);
                CopySuperseded(clientId, key); // deleted once this node's own copy is written
                return true;
            }
            catch (NatsKVWrongLastRevisionException)
            {
                return false; // claimed meanwhile by a CONNECT on another node
            }
        }).ConfigureAwait(false);
        return adopted ? writer : null;
    }

    [LoggerMessage(EventId = 2453, Level = LogLevel.Information, Message = "Cluster: adopted {Count} persistent session(s) of node {Node}, which is down: their messages queue here until their clients connect (to any node)")]
    private static partial void LogSessionsAdopted(ILogger logger, int count, string node);

    [LoggerMessage(EventId = 2456, Level = LogLevel.Information, Message = "Cluster: adoption pass for node(s) {Nodes}: {Read} copies read, {Adopted} adopted, in {Milliseconds:0.0} ms")]
    private static partial void LogAdoptionPass(ILogger logger, string nodes, int read, int adopted, double milliseconds);

    [LoggerMessage(EventId = 2454, Level = LogLevel.Warning, Message = "Cluster: adopting the persistent sessions of node(s) {Nodes}, which are down, failed ({Error}): {Next}")]
    private static partial void LogAdoptionFailed(ILogger logger, string nodes, string error, string next);
}
