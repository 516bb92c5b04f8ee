using System.Buffers.Text;
using System.Text;
using Broker.Core.Cluster;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace Broker.Cluster;

/// <summary>
/// Client-id ownership: each client id is one node's at a time, cluster-wide.
/// </summary>
/// <remarks>
/// <para>The registry is a JetStream key-value bucket <c>&lt;cluster.name&gt;-owners</c> (history 1,
/// <c>cluster.owner_replicas</c> copies, R3 by default so that losing one of three NATS servers changes nothing): key =
/// the client id (base64url), value = the owning node's name and boot id. A CONNECT on node B writes B there by
/// compare-and-set (create when the key is new, update at the revision B read otherwise) before its CONNACK. JetStream
/// orders the writes of one key (one stream, one leader): of two nodes that read the same revision, exactly one write
/// succeeds; the other reads again and writes at the winner's revision, taking the client id over from it, or gives up
/// after a few rounds (CONNACK 0x89 Server busy).</para>
/// <para>Every successful write replaced exactly one previous value, so its writer knows the one previous owner and asks
/// it, over NATS request/reply (<c>c.own.&lt;node&gt;</c>), to let go: that node closes its connection of the client id
/// (DISCONNECT 0x8E), ends the session there and replies with the session's state when it outlives connections and the
/// new CONNECT is not a clean start. So each owner in the chain of revisions is told by its successor, and a connection
/// accepted on a node whose ownership was later replaced is closed by that node. A previous owner that is down (by
/// heartbeat), or has no NATS subscription any more (killed: NATS says no responders at once), is not waited for; one
/// that does not answer within <c>cluster.node_timeout</c> is not waited for longer (its session state is lost).</para>
/// <para>Without NATS (or without the registry), a node accepts its clients alone and remembers them as unclaimed; once
/// NATS is back it claims them, and a client id that another running node has claimed meanwhile is that node's: the
/// connection here is closed (0x8E) and its session dropped. Whenever NATS connects, every session here (connected,
/// offline, or brought back by the store at start) is checked the same way. So once a split heals, or a node whose
/// clients moved while it was down is back, the registry's owner is the one owner.</para>
/// </remarks>
internal sealed partial class ClusterNode
{
    private const int ClaimRounds = 5;
    private const string NoSessionHeader = "Broker-No-Session";

    private readonly TaskCompletionSource<INatsKVStore> _registry = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _unclaimed = new(StringComparer.Ordinal);
    private int _registryStarting;
    private long _natsOpenedAt; // TimeProvider timestamp of the last (re)connection to NATS
    private CachedStream<INatsJSStream>? _registryStream; // the registry bucket's stream, for reads from its leader (ReadOwnerAsync)
    private byte[]? _ownerValue;

    private byte[] OwnerValue => _ownerValue ??= Encoding.UTF8.GetBytes(NodeName + "\n" + _boot);

    private string BucketName => _options.Name + "-owners";

    /// <summary>The registry bucket's stream, looked up again when JetStream no longer knows the one held (the bucket deleted, or created again).</summary>
    private CachedStream<INatsJSStream> RegistryStream => LazyInitializer.EnsureInitialized(ref _registryStream,
        () => new CachedStream<INatsJSStream>(cancel => new NatsJSContext(_nats).GetStreamAsync("KV_" + BucketName, cancellationToken: cancel)));

    /// <summary>Client ids accepted here without the registry, still to be claimed (or checked after a reconnect).</summary>
    public int UnclaimedCount
    {
        get
        {
            lock (_unclaimed)
                return _unclaimed.Count;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<ClientClaim> ClaimClientAsync(string clientId, bool discard)
    {
        var registry = await RegistryAsync().ConfigureAwait(false);
        if (registry is null)
        {
            MarkUnclaimed(clientId);
            return new ClientClaim(false, null);
        }
        var key = OwnerKey(clientId);
        using var deadline = new CancellationTokenSource(_options.NodeTimeout + TimeSpan.FromSeconds(1));
        try
        {
            for (var round = 0; round < ClaimRounds; round++)
            {
                var (previous, previousBoot, revision) = await ReadOwnerAsync(registry, key, deadline.Token).ConfigureAwait(false);
                try
                {
                    await registry.UpdateAsync(key, OwnerValue, revision, cancellationToken: deadline.Token).ConfigureAwait(false);
                }
                catch (NatsKVWrongLastRevisionException)
                {
                    continue; // another node wrote first: take it over from that one
                }
                lock (_unclaimed)
                    _unclaimed.Remove(clientId);
                _copiesHeld.TryRemove(clientId, out _); // the core says when its session changes from here on
                if (previous is null)
                    return new ClientClaim(false, null);
                if (previous == NodeName)
                {
                    // This node in an earlier life (restarted): the session it had is here only if its store kept it.
                    return previousBoot == _boot ? new ClientClaim(false, null) : await CopyClaimAsync(clientId, previous, discard).ConfigureAwait(false);
                }
                return await TakeFromAsync(previous, clientId, discard).ConfigureAwait(false);
            }
            LogClaimRefused(_logger, clientId, ClaimRounds);
            return new ClientClaim(true, null);
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException or TimeoutException)
        {
            // The registry does not answer (no JetStream quorum, NATS going away): serve the client alone, claim it later.
            if (_core.ShouldLog(0x2430, nameof(LogRegistryUnavailable), null))
                LogRegistryUnavailable(_logger, clientId, ex.Message);
            MarkUnclaimed(clientId);
            return new ClientClaim(false, null);
        }
    }

    /// <summary>The registry once it is there; null while NATS is down or the registry is not ready within the node timeout.</summary>
    private async ValueTask<INatsKVStore?> RegistryAsync()
    {
        if (!NatsConnected)
            return null;
        var ready = _registry.Task;
        if (ready.IsCompletedSuccessfully)
            return ready.Result;
        EnsureRegistry();
        try
        {
            return await ready.WaitAsync(_options.NodeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>Creates (or opens) the bucket, in the background, trying until it exists: JetStream may still be electing its leaders.</summary>
    private void EnsureRegistry()
    {
        if (Interlocked.Exchange(ref _registryStarting, 1) != 0)
            return;
        _ = Task.Run(() => OpenBucketAsync(BucketName, "client id -> owning node (broker cluster " + _options.Name + ")", _registry, _stop.Token));
    }

    /// <summary>
    /// The key's owner (name and boot) and its last revision (a deletion's included; 0 = never written), read from the bucket's stream
    /// leader. Not <see cref="INatsKVStore.GetEntryAsync{T}"/>: a key-value get may be answered by any replica, and one
    /// that is behind (a NATS server just back after a split) answered "no such key" for seconds to minutes while the
    /// leader held an owner, so a node that had accepted the id unchecked never saw that it had to give it up.
    /// </summary>
    private async Task<(string? Owner, string? Boot, ulong Revision)> ReadOwnerAsync(INatsKVStore registry, string key, CancellationToken cancel)
    {
        var request = new StreamMsgGetRequest { LastBySubj = "$KV." + registry.Bucket + "." + key };
        StoredMessage last;
        try
        {
            last = await RegistryStream.ReadAsync(async stream => (await stream.GetAsync(request, cancel).ConfigureAwait(false)).Message, cancel).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404 && !CachedStream<INatsJSStream>.IsStreamNotFound(ex))
        {
            return (null, null, 0); // no message for the key: never written
        }
        // A deletion is a message whose headers say KV-Operation: DEL (or PURGE); UpdateAsync writes over it by its revision.
        if (last.Hdrs is { Length: > 0 } headers && Encoding.ASCII.GetString(Convert.FromBase64String(headers)).Contains("KV-Operation", StringComparison.OrdinalIgnoreCase))
            return (null, null, last.Seq);
        var (owner, boot) = OwnerOf(last.Data.ToArray());
        return (owner, boot, last.Seq);
    }

    /// <summary>An owner value's node name and boot id.</summary>
    private static (string? Name, string? Boot) OwnerOf(byte[]? value)
    {
        if (value is null || value.Length == 0)
            return (null, null);
        var text = Encoding.UTF8.GetString(value);
        var end = text.IndexOf('\n', StringComparison.Ordinal);
        return end < 0 ? (text, null) : (text[..end], text[(end + 1)..]);
    }

    /// <summary>The registry's key of a client id: base64url of its UTF-8 form (keys allow letters, digits, '-', '_', '=', '.', '/').</summary>
    private static string OwnerKey(string clientId) => "c." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(clientId));

    /// <summary>
    /// Asks <paramref name="owner"/> to let go of <paramref name="clientId"/>: its session's state, none when it had none,
    /// or the cluster's copy of the session when it could not hand it over.
    /// </summary>
    private async Task<ClientClaim> TakeFromAsync(string owner, string clientId, bool discard)
    {
        if (!IsRunning(owner))
        {
            LogTakenFromDown(_logger, clientId, owner);
            return await CopyClaimAsync(clientId, owner, discard).ConfigureAwait(false);
        }
        var request = new byte[1 + Encoding.UTF8.GetByteCount(clientId)];
        request[0] = discard ? (byte)1 : (byte)0;
        Encoding.UTF8.GetBytes(clientId, request.AsSpan(1));
        try
        {
            var reply = await LargeReply.RequestAsync(_nats, _subjects.Owner(_subjects.Token(owner)), request, _options.NodeTimeout, _stop.Token).ConfigureAwait(false);
            if (reply.Headers is { } headers)
            {
                if (!headers.TryGetValue(ErrorHeader, out var error))
                    return new ClientClaim(false, null); // it had no session to hand over
                LogTakeoverStateLost(_logger, clientId, owner, error.ToString());
                return await CopyClaimAsync(clientId, owner, discard).ConfigureAwait(false);
            }
            return new ClientClaim(false, reply.Data is { Length: > 0 } state ? state : null);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException)
        {
            LogTakeoverStateLost(_logger, clientId, owner, ex is NatsNoRespondersException ? "it is gone from NATS" : ex.Message);
            return await CopyClaimAsync(clientId, owner, discard).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The claim when <paramref name="previous"/> could not hand the session over: the cluster's copy of it
    /// (<see cref="ReadSessionCopyAsync"/>), or, for a clean start, none, and the copy is deleted.
    /// </summary>
    private async Task<ClientClaim> CopyClaimAsync(string clientId, string previous, bool discard)
    {
        if (discard)
        {
            CopySuperseded(clientId, CopyKey(previous, clientId)); // the previous owner's copy goes
            SessionChanged(clientId); // no session here that outlives its connection yet
            return new ClientClaim(false, null);
        }
        return new ClientClaim(false, await ReadSessionCopyAsync(clientId, previous).ConfigureAwait(false), Copy: true);
    }

    private bool IsRunning(string name)
    {
        lock (_members)
            return _members.TryGetValue(_subjects.Token(name), out var node) && node.Name == name && node.IsUp;
    }

    /// <summary>Other nodes taking client ids from this one.</summary>
    private async Task ServeOwnershipAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_subjects.Owner(_subjects.Token(NodeName)), cancellationToken: cancel).ConfigureAwait(false))
        {
            if (msg.Data is { Length: > 1 } data)
                _ = LetGoAsync(msg, Encoding.UTF8.GetString(data.AsSpan(1)), data[0] == 1, cancel);
        }
    }

    private async Task LetGoAsync(NatsMsg<byte[]> msg, string clientId, bool discard, CancellationToken cancel)
    {
        byte[]? state = null;
        string? error = null;
        try
        {
            state = await _core.ReleaseClientAsync(clientId, discard).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            error = "failed: " + ex.Message;
        }
        LogLetGo(_logger, clientId, state?.Length ?? 0);
        try
        {
            if (error is not null)
                await msg.ReplyAsync(Array.Empty<byte>(), headers: new NatsHeaders { [ErrorHeader] = error }, cancellationToken: cancel).ConfigureAwait(false);
            else if (state is null)
                await msg.ReplyAsync(Array.Empty<byte>(), headers: new NatsHeaders { [NoSessionHeader] = "1" }, cancellationToken: cancel).ConfigureAwait(false);
            else
                await LargeReply.ReplyAsync(_nats, msg, state, cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException)
        {
        }
    }

    private void MarkUnclaimed(string clientId)
    {
        lock (_unclaimed)
            _unclaimed.Add(clientId);
    }

    private bool IsUnclaimed(string clientId)
    {
        lock (_unclaimed)
            return _unclaimed.Contains(clientId);
    }

    /// <summary>
    /// Whenever NATS (re)connects, every session here is checked against the registry: a split may have given its client
    /// to another node, and a session this node's store brought back at start may have moved to another node while this
    /// one was down.
    /// </summary>
    private void RecheckClients()
    {
        var sessions = _core.SessionClients();
        // Counted as pending copies before they are unclaimed: a copy waits from then until the id is claimed again.
        foreach (var clientId in sessions)
        {
            if (_core.SessionOutlivesConnection(clientId))
                _copiesHeld.TryAdd(clientId, 0);
        }
        lock (_unclaimed)
            _unclaimed.UnionWith(sessions);
    }

    private int _reconciling;

    /// <summary>
    /// Claims the client ids accepted without the registry; one that another running node owns now is that node's: the
    /// connection here is closed (0x8E) and its session dropped.
    /// </summary>
    private async Task ReconcileAsync()
    {
        if (Interlocked.Exchange(ref _reconciling, 1) != 0)
            return;
        try
        {
            if (!_registry.Task.IsCompletedSuccessfully || !NatsConnected)
                return;
            var registry = _registry.Task.Result;
            string[] pending;
            lock (_unclaimed)
                pending = [.. _unclaimed];
            foreach (var clientId in pending)
            {
                using var deadline = new CancellationTokenSource(_options.NodeTimeout + TimeSpan.FromSeconds(1));
                var key = OwnerKey(clientId);
                var (owner, _, revision) = await ReadOwnerAsync(registry, key, deadline.Token).ConfigureAwait(false);
                // Owned by a node not heard from since this node's NATS came back (a split healing): it may well be
                // running, its heartbeat not here yet. Taking the id now would leave it two owners; look next tick.
                if (owner is not null && owner != NodeName && !IsRunning(owner)
                    && _core.TimeProvider.GetElapsedTime(Volatile.Read(ref _natsOpenedAt)) < 2 * _options.NodeTimeout)
                    continue;
                var lost = owner is not null && owner != NodeName && IsRunning(owner);
                if (lost)
                {
                    LogSplitLoser(_logger, clientId, owner!);
                    // What the session here held for its client (messages published on this side of a split, or kept on
                    // disk through this node's restart) goes to the owner's session rather than with this one.
                    if (await _core.ReleaseClientAsync(clientId, discard: false).ConfigureAwait(false) is { } state
                        && _core.UndeliveredMessages(state) is > 0 and var count)
                        _ = HandUndeliveredAsync(owner!, clientId, state, count);
                }
                else if (owner != NodeName)
                {
                    try
                    {
                        await registry.UpdateAsync(key, OwnerValue, revision, cancellationToken: deadline.Token).ConfigureAwait(false);
                    }
                    catch (NatsKVWrongLastRevisionException)
                    {
                        continue; // changed meanwhile: the next tick looks again
                    }
                }
                lock (_unclaimed)
                    _unclaimed.Remove(clientId);
                // This node's now: its copy is written (it was held back while unclaimed, and a session changed while
                // this node had left the cluster has none, or an old one).
                if (!lost && _core.SessionOutlivesConnection(clientId))
                    SessionChanged(clientId);
                _copiesHeld.TryRemove(clientId, out _);
            }
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException or TimeoutException)
        {
            // The next tick tries again.
            if (_core.ShouldLog(0x2446, nameof(LogReconcileFailed), null))
                LogReconcileFailed(_logger, UnclaimedCount, ex.GetType().Name + ": " + ex.Message);
        }
        finally
        {
            Volatile.Write(ref _reconciling, 0);
        }
    }

    [LoggerMessage(EventId = 2446, Level = LogLevel.Warning, Message = "Cluster: checking the {Count} client id(s) accepted here without the registry failed ({Error}); trying again")]
    private static partial void LogReconcileFailed(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 2439, Level = LogLevel.Warning, Message = "Cluster: the client-id registry does not answer ({Error}): {ClientId} is accepted on this node alone and claimed when it answers")]
    private static partial void LogRegistryUnavailable(ILogger logger, string clientId, string error);

    [LoggerMessage(EventId = 2431, Level = LogLevel.Information, Message = "Cluster: creating the JetStream bucket {Bucket} failed ({Error}); trying again")]
    private static partial void LogRegistryRetry(ILogger logger, string bucket, string error);

    [LoggerMessage(EventId = 2433, Level = LogLevel.Warning, Message = "Cluster: the JetStream bucket {Bucket} cannot have {Replicas} replicas ({Error}): using 1 (cluster.owner_replicas)")]
    private static partial void LogRegistryReplicas(ILogger logger, string bucket, int replicas, string error);

    [LoggerMessage(EventId = 2434, Level = LogLevel.Warning, Message = "Cluster: client id {ClientId} refused: other nodes kept claiming it ({Rounds} rounds)")]
    private static partial void LogClaimRefused(ILogger logger, string clientId, int rounds);

    [LoggerMessage(EventId = 2435, Level = LogLevel.Information, Message = "Cluster: client id {ClientId} taken from node {Owner}, which is down: its session there is lost")]
    private static partial void LogTakenFromDown(ILogger logger, string clientId, string owner);

    [LoggerMessage(EventId = 2436, Level = LogLevel.Warning, Message = "Cluster: client id {ClientId} taken from node {Owner} without its session: {Why}")]
    private static partial void LogTakeoverStateLost(ILogger logger, string clientId, string owner, string why);

    [LoggerMessage(EventId = 2437, Level = LogLevel.Information, Message = "Cluster: client id {ClientId} taken over by another node (session handed over: {Bytes} bytes)")]
    private static partial void LogLetGo(ILogger logger, string clientId, int bytes);

    [LoggerMessage(EventId = 2438, Level = LogLevel.Warning, Message = "Cluster: client id {ClientId}, accepted here without the registry, is owned by node {Owner}: closing it here")]
    private static partial void LogSplitLoser(ILogger logger, string clientId, string owner);
}
