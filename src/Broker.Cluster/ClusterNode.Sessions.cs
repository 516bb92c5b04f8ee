using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Broker.Cluster;

/// <summary>
/// The cluster's copy of each session that outlives its connection: its record (subscriptions with their options,
/// expiry, user name), not its messages, so that a client whose node died resumes its session on another node.
/// </summary>
/// <remarks>
/// <para>The copies are a JetStream key-value bucket <c>&lt;cluster.name&gt;-sessions</c> (history 1,
/// <c>cluster.owner_replicas</c> copies): key <c>n.&lt;writer&gt;.c.&lt;client id&gt;</c> (the writing node's name as
/// one subject token, <see cref="NodeSubjects.TokenOf"/>, then the registry's key of the client id), so that the copies
/// one node wrote are listed by a subject filter, without reading the others'; value the writing node's name, a newline, "disk" if that node keeps its sessions on disk (else "-"), a newline, then the record in the core's
/// handover form. The node that has the session writes it when the core
/// says it changed (created, resumed, subscribed, unsubscribed, offline), a few at a time in the background: a burst
/// of changes to one session is one write, under its own name. When the session ends here (expired, discarded, or no
/// longer outliving its connection), the node deletes its copy; a session taken over by another node is that node's to
/// write, under that node's name. A node that resumed (or adopted, or replaced with a clean start) a session from
/// another node's copy deletes that copy once its own is written.</para>
/// <para>A copy is looked up by its client id through the registry: the owner the registry names is the copy's
/// writer. The copy is read when a client connects and its previous owner could not hand the session over (down by
/// heartbeat, gone from NATS, silent past <c>cluster.node_timeout</c>) or is this node in an earlier life (restarted
/// without the session): then it stands in for the session, restored offline and resumed by the CONNECT (session
/// present 1, its subscriptions routed here). What the dead node held for it (in-flight and queued messages, QoS 2
/// packet ids, the will) is not in the copy. The copies of a node found down are also read by the node that adopts its
/// sessions (ClusterNode.Adoption), unless that node kept them on disk: a filter on that node's prefix lists them, so
/// the pass costs that node's sessions, not the cluster's.</para>
/// <para>Before this layout the key was the registry's (<c>c.&lt;client id&gt;</c>). Such a copy is still read on a
/// CONNECT whose previous owner's copy is not under its name (a cluster stopped and started again on this version), then
/// deleted; it is not adopted. Nodes of both layouts in one running cluster do not read each other's copies. The old
/// copies nobody reconnects for are cleaned up (ClusterNode.OldCopies) once superseded, unreadable or expired.</para>
/// </remarks>
internal sealed partial class ClusterNode
{
    private readonly ConcurrentDictionary<string, byte> _sessionsChanged = new(StringComparer.Ordinal);
    // "Something changed": one pending signal at most, however many changes come before the writer looks.
    private readonly Channel<byte> _sessionsSignal = Channel.CreateBounded<byte>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly TaskCompletionSource<INatsKVStore> _sessionsBucket = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _sessionsCopying; // taken from _sessionsChanged, not yet written
    // Sessions outliving their connections whose client ids are not claimed yet: their copies wait (ReconcileAsync).
    private readonly ConcurrentDictionary<string, byte> _copiesHeld = new(StringComparer.Ordinal);
    // Another node's (or the older layout's) copy this node's session of the client id came from: deleted once this
    // node's own copy is written (or, the session gone, its own deleted).
    private readonly ConcurrentDictionary<string, string> _staleCopies = new(StringComparer.Ordinal);

    private string SessionsBucketName => _options.Name + "-sessions";

    /// <summary>
    /// Sessions whose change is not in the cluster's copy yet, with those whose client ids are still to be checked
    /// against the registry (their copies are written once they are this node's): 0 when every copy is up to date.
    /// </summary>
    public int SessionCopiesPending => _sessionsChanged.Count + Volatile.Read(ref _sessionsCopying) + _copiesHeld.Count;

    /// <inheritdoc/>
    public void SessionChanged(string clientId)
    {
        if (_sessionsChanged.TryAdd(clientId, 0))
            _sessionsSignal.Writer.TryWrite(0);
    }

    /// <summary>Writes (or deletes) the copies of the sessions that changed, until the node stops; one that fails is tried again.</summary>
    private async Task CopySessionsAsync(CancellationToken cancel)
    {
        var bucket = await OpenBucketAsync(SessionsBucketName, "copies of persistent sessions' records (broker cluster " + _options.Name + ")", _sessionsBucket, cancel).ConfigureAwait(false);
        if (bucket is null)
            return;
        var cleaning = Task.Run(() => CleanOldCopiesAsync(bucket, cancel), cancel);
        try
        {
            await CopySessionChangesAsync(bucket, cancel).ConfigureAwait(false);
        }
        finally
        {
            await cleaning.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task CopySessionChangesAsync(INatsKVStore bucket, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                await _sessionsSignal.Reader.ReadAsync(cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            // Up to 64 writes at a time: a reconnect storm of persistent clients is not written one round trip at a time.
            foreach (var chunk in _sessionsChanged.Keys.Chunk(64))
            {
                var writes = new Task<string?>[chunk.Length];
                for (var i = 0; i < chunk.Length; i++)
                {
                    // Counted before it leaves the set: SessionCopiesPending is never 0 while a change is unwritten.
                    Interlocked.Increment(ref _sessionsCopying);
                    _sessionsChanged.TryRemove(chunk[i], out _);
                    writes[i] = TryCopySessionAsync(bucket, chunk[i], cancel);
                }
                string? failure = null;
                for (var i = 0; i < writes.Length; i++)
                {
                    if (await writes[i].ConfigureAwait(false) is { } error)
                    {
                        failure = error;
                        SessionChanged(chunk[i]); // written once NATS answers
                    }
                    Interlocked.Decrement(ref _sessionsCopying);
                }
                if (failure is not null)
                {
                    if (_core.ShouldLog(0x2450, nameof(LogSessionCopyRetry), null))
                        LogSessionCopyRetry(_logger, _sessionsChanged.Count, failure);
                    await DelayQuietlyAsync(TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false);
                    break;
                }
            }
        }
    }

    /// <summary>Writes or deletes one copy; null when done, else why not (NATS or JetStream away).</summary>
    private async Task<string?> TryCopySessionAsync(INatsKVStore bucket, string clientId, CancellationToken cancel)
    {
        try
        {
            await CopySessionAsync(bucket, clientId, cancel).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException || (ex is OperationCanceledException && !cancel.IsCancellationRequested))
        {
            return ex.Message;
        }
    }

    private async Task CopySessionAsync(INatsKVStore bucket, string clientId, CancellationToken cancel)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(_options.NodeTimeout + TimeSpan.FromSeconds(1));
        // Not claimed in the registry yet (accepted without it, or to be checked after a (re)connect or join): another
        // node may own the client id now, and this node's copy would overwrite its. Written once claimed (ReconcileAsync).
        if (IsUnclaimed(clientId))
        {
            if (_core.SessionOutlivesConnection(clientId))
                _copiesHeld.TryAdd(clientId, 0);
            return;
        }
        var key = CopyKey(NodeName, clientId);
        var value = _core.SessionCopy(clientId) is { } record ? CopyValue(record) : null;
        if (value is not null && value.Length > LargeReply.PartBytes(_nats))
        {
            // A key-value entry is one NATS message: a record this large (thousands of long filters) is not copied,
            // and an older copy goes rather than stand for it.
            if (_core.ShouldLog(2460, nameof(LogSessionCopyTooLarge), clientId))
                LogSessionCopyTooLarge(_logger, clientId, value.Length, _nats.ServerInfo?.MaxPayload ?? 1_048_576);
            value = null;
        }
        if (value is not null)
            await bucket.PutAsync(key, value, cancellationToken: deadline.Token).ConfigureAwait(false);
        else
            await DeleteCopyAsync(bucket, key, deadline.Token).ConfigureAwait(false); // ended here (a node that took it over writes its own), or too large
        // The copy this node's session came from, now that this node's own stands for it (or the session is gone).
        if (_staleCopies.TryGetValue(clientId, out var stale))
        {
            await DeleteCopyAsync(bucket, stale, deadline.Token).ConfigureAwait(false);
            _staleCopies.TryRemove(KeyValuePair.Create(clientId, stale));
        }
    }

    /// <summary>A copy as the bucket holds it: its writer, whether that node keeps sessions on disk, the record.</summary>
    private byte[] CopyValue(byte[] record)
    {
        var name = Encoding.UTF8.GetBytes(NodeName + "\n" + (_core.KeepsSessions ? KeptOnDisk : "-") + "\n");
        var value = new byte[name.Length + record.Length];
        name.CopyTo(value, 0);
        record.CopyTo(value, name.Length);
        return value;
    }

    /// <summary>Deletes a copy if there is one (no deletion marker written for a key that has none).</summary>
    private static async Task DeleteCopyAsync(INatsKVStore bucket, string key, CancellationToken cancel)
    {
        NatsKVEntry<byte[]> entry;
        try
        {
            entry = await bucket.GetEntryAsync<byte[]>(key, cancellationToken: cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
        {
            return;
        }
        try
        {
            await bucket.DeleteAsync(key, new NatsKVDeleteOpts { Revision = entry.Revision }, cancel).ConfigureAwait(false);
        }
        catch (NatsKVWrongLastRevisionException)
        {
            // Written meanwhile: by its writer, whose own it is.
        }
    }

    /// <summary>The key of <paramref name="writer"/>'s copy of <paramref name="clientId"/>'s session: <c>n.&lt;writer token&gt;.c.&lt;client id, base64url&gt;</c>.</summary>
    internal static string CopyKey(string writer, string clientId) => CopyPrefix(writer) + OwnerKey(clientId);

    /// <summary>What every key of <paramref name="writer"/>'s copies starts with (a subject filter lists them: prefix + "&gt;").</summary>
    private static string CopyPrefix(string writer) => "n." + NodeSubjects.TokenOf(writer) + ".";

    /// <summary>The client id of a copy's key (<see cref="CopyKey"/>), or null when the key is not one.</summary>
    private static string? CopyClientId(string key)
    {
        var at = key.StartsWith("n.", StringComparison.Ordinal) ? key.IndexOf(".c.", 2, StringComparison.Ordinal) : -1;
        if (at < 0)
            return null;
        try
        {
            return Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(key.AsSpan(at + 3)));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>Another node's copy (or the older layout's) that this node's session of <paramref name="clientId"/> comes from: deleted once this node's own is written.</summary>
    private void CopySuperseded(string clientId, string key)
    {
        if (key != CopyKey(NodeName, clientId))
            _staleCopies[clientId] = key;
    }

    /// <summary>
    /// The cluster's copy of <paramref name="clientId"/>'s session, for a CONNECT whose previous owner could not hand it
    /// over; null when there is none, or it cannot be read in time.
    /// </summary>
    private async Task<byte[]?> ReadSessionCopyAsync(string clientId, string previousOwner)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(_options.NodeTimeout);
        try
        {
            // Still being created here (JetStream may take seconds to answer three nodes creating it at once): the
            // bucket another node made is read directly.
            var bucket = _sessionsBucket.Task.IsCompletedSuccessfully
                ? _sessionsBucket.Task.Result
                : await new NatsKVContext(new NatsJSContext(_nats)).GetStoreAsync(SessionsBucketName, deadline.Token).ConfigureAwait(false);
            // Under the previous owner's name; else the older layout's key (a copy written before it, by any node).
            foreach (var key in new[] { CopyKey(previousOwner, clientId), OwnerKey(clientId) })
            {
                NatsKVEntry<byte[]> entry;
                try
                {
                    entry = await bucket.GetEntryAsync<byte[]>(key, cancellationToken: deadline.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
                {
                    continue;
                }
                var (owner, _, record) = SplitCopy(entry.Value);
                if (record is null)
                    continue;
                CopySuperseded(clientId, key);
                LogSessionCopyUsed(_logger, clientId, owner ?? "?", previousOwner);
                return record;
            }
            return null;
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException)
        {
            LogSessionCopyUnreadable(_logger, clientId, ex.Message);
            return null;
        }
    }

    /// <summary>A copy's second line when its writer keeps its sessions on disk (<c>persistence = on</c>), else "-".</summary>
    private const string KeptOnDisk = "disk";

    /// <summary>A copy's writer (first line), whether that node keeps its sessions on disk (second line), and the record (the rest).</summary>
    private static (string? Owner, bool OnDisk, byte[]? Record) SplitCopy(byte[]? value)
    {
        var end = value is null ? -1 : Array.IndexOf(value, (byte)'\n');
        var second = end < 0 ? -1 : Array.IndexOf(value!, (byte)'\n', end + 1);
        if (second < 0)
            return (null, false, null);
        var flags = Encoding.UTF8.GetString(value!, end + 1, second - end - 1);
        return (Encoding.UTF8.GetString(value!, 0, end), flags == KeptOnDisk, value![(second + 1)..]);
    }

    [LoggerMessage(EventId = 2450, Level = LogLevel.Warning, Message = "Cluster: writing the copies of {Count} persistent session(s) failed ({Error}); trying again")]
    private static partial void LogSessionCopyRetry(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 2460, Level = LogLevel.Warning, Message = "Cluster: the record of client id {ClientId}'s session is {Bytes} bytes, over what one NATS message may carry ({MaxPayload}): the cluster keeps no copy of it, so should this node die its client starts anew elsewhere (a takeover by a running node still moves it whole)")]
    private static partial void LogSessionCopyTooLarge(ILogger logger, string clientId, int bytes, long maxPayload);

    [LoggerMessage(EventId = 2451, Level = LogLevel.Information, Message = "Cluster: client id {ClientId} resumes the cluster's copy of its session (written by node {Writer}; node {Previous} could not hand it over): its subscriptions, not what that node held for it")]
    private static partial void LogSessionCopyUsed(ILogger logger, string clientId, string writer, string previous);

    [LoggerMessage(EventId = 2452, Level = LogLevel.Warning, Message = "Cluster: the cluster's copy of client id {ClientId}'s session cannot be read ({Error}): it starts anew")]
    private static partial void LogSessionCopyUnreadable(ILogger logger, string clientId, string error);
}
