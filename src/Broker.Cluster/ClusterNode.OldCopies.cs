using System.Buffers.Text;
using System.Text;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Broker.Cluster;

/// <summary>
/// The clean-up of the older layout's session copies (key <c>c.&lt;client id&gt;</c>, written before 2026-12-07):
/// a CONNECT still reads one as a fallback and deletes it, but one whose client never comes back would stay in the
/// bucket for good.
/// </summary>
/// <remarks>
/// <para>Once the sessions bucket is open, every node lists the bucket's old-layout keys (a subject filter,
/// <c>c.&gt;</c>: none, and the pass is over for good) and deletes, each at the revision read (so a copy written
/// meanwhile stays, and two nodes never both count one), a copy that</para>
/// <list type="bullet">
/// <item>cannot be read (no record, or a form this version does not know): the CONNECT fallback skips it anyway;</item>
/// <item>is superseded: the client id's owner in the registry has a copy under its own name written after it (a later
/// revision of the same bucket), which is the one a CONNECT reads, the old one never;</item>
/// <item>has expired: its session went offline by the server's stamp of the copy (the record says it was offline when
/// written), or, for a copy this node wrote in an earlier life while its client was connected, by this process's start
/// (that life ended before it), and its expiry interval has passed since, in the NATS server's time
/// (<see cref="ServerClock"/>). A CONNECT would have restored it only to expire it at once.</item>
/// </list>
/// <para>A copy kept has a session that may still be resumed: the CONNECT fallback reads it as before. When some of them
/// will expire, the pass runs again then; a copy with no known end (expiry never, or written by another node while its
/// client was connected) waits for its client, or for its writer running this version to clean it up.</para>
/// </remarks>
internal sealed partial class ClusterNode
{
    /// <summary>Between a pass that failed (NATS or JetStream away) and the next.</summary>
    private static readonly TimeSpan OldCopiesRetryDelay = TimeSpan.FromMinutes(1);

    /// <summary>Runs the passes over the old-layout copies until none are left that a later pass could delete, or the node stops.</summary>
    private async Task CleanOldCopiesAsync(INatsKVStore bucket, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            TimeSpan? next;
            try
            {
                next = await CleanOldCopiesOnceAsync(bucket, cancel).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException || (ex is OperationCanceledException && !cancel.IsCancellationRequested))
            {
                if (_core.ShouldLog(0x2459, nameof(LogOldCopiesFailed), null))
                    LogOldCopiesFailed(_logger, SessionsBucketName, ex.Message, OldCopiesRetryDelay.TotalSeconds);
                next = OldCopiesRetryDelay;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (next is not { } delay)
                return;
            try
            {
                await Task.Delay(delay, _core.TimeProvider, cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One pass (see the type's remarks): when to look again, or null when no later pass could delete anything.</summary>
    private async Task<TimeSpan?> CleanOldCopiesOnceAsync(INatsKVStore bucket, CancellationToken cancel)
    {
        var keys = new List<string>();
        await foreach (var key in bucket.GetKeysAsync(["c.>"], cancellationToken: cancel).ConfigureAwait(false))
            keys.Add(key);
        if (keys.Count == 0)
            return null;
        var serverNow = await SampleServerClockAsync(bucket, cancel).ConfigureAwait(false);
        var registry = await RegistryAsync().ConfigureAwait(false); // null: NATS away again, superseded copies wait for the next pass
        int superseded = 0, expired = 0, unreadable = 0, kept = 0;
        DateTimeOffset? earliest = null;
        foreach (var chunk in keys.Chunk(64))
        {
            foreach (var (outcome, expires) in await Task.WhenAll(chunk.Select(key => JudgeOldCopyAsync(bucket, registry, key, serverNow, cancel))).ConfigureAwait(false))
            {
                switch (outcome)
                {
                    case OldCopy.Superseded: superseded++; break;
                    case OldCopy.Expired: expired++; break;
                    case OldCopy.Unreadable: unreadable++; break;
                    case OldCopy.Kept:
                        kept++;
                        if (expires is { } at && (earliest is null || at < earliest))
                            earliest = at;
                        break;
                }
            }
        }
        // The server's time of the earliest end, as a wait on this node's clock; a second late, so it has passed then.
        TimeSpan? next = earliest is { } end ? TimeSpan.FromTicks(Math.Max((end - serverNow).Ticks, 0)) + TimeSpan.FromSeconds(1) : null;
        if (registry is null && kept > 0)
            next = next is { } n && n < OldCopiesRetryDelay ? n : OldCopiesRetryDelay;
        LogOldCopiesPass(_logger, SessionsBucketName, superseded + expired + unreadable, superseded, expired, unreadable, kept,
            next is { } again ? $"; looking again in {again.TotalSeconds:0} s" : kept > 0 ? "; they wait for their clients" : "");
        return next;
    }

    /// <summary>What one old-layout copy is (deleted as what, or kept until when, if known); NATS failing throws.</summary>
    private async Task<(OldCopy Outcome, DateTimeOffset? Expires)> JudgeOldCopyAsync(INatsKVStore bucket, INatsKVStore? registry, string key,
        DateTimeOffset serverNow, CancellationToken cancel)
    {
        NatsKVEntry<byte[]> entry;
        try
        {
            entry = await bucket.GetEntryAsync<byte[]>(key, cancellationToken: cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
        {
            return (OldCopy.Gone, null); // read by a CONNECT and deleted meanwhile
        }
        var clientId = OldCopyClientId(key);
        var (writer, _, record) = SplitCopy(entry.Value);
        if (clientId is null || record is null || _core.ReadSessionCopy(record) is not { } session)
            return (await DeleteOldCopyAsync(bucket, entry, cancel).ConfigureAwait(false) ? OldCopy.Unreadable : OldCopy.Gone, null);
        if (registry is not null && await ReadOwnerAsync(registry, OwnerKey(clientId), cancel).ConfigureAwait(false) is { Owner: { } owner })
        {
            try
            {
                var owners = await bucket.GetEntryAsync<byte[]>(CopyKey(owner, clientId), cancellationToken: cancel).ConfigureAwait(false);
                if (owners.Revision > entry.Revision)
                    return (await DeleteOldCopyAsync(bucket, entry, cancel).ConfigureAwait(false) ? OldCopy.Superseded : OldCopy.Gone, null);
            }
            catch (Exception ex) when (ex is NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
            {
                // The owner has no copy of its own: the old one is what a CONNECT would resume.
            }
        }
        if (session.ExpiryInterval == uint.MaxValue)
            return (OldCopy.Kept, null);
        // When the session was offline by, at the latest, in the server's time.
        DateTimeOffset? offline = session.DisconnectedAtUnixMs > 0 ? entry.Created
            : writer == NodeName ? _serverClock.ToServer(_core.StartedAt)
            : null;
        if (offline is not { } since)
            return (OldCopy.Kept, null);
        var expires = since + TimeSpan.FromSeconds(session.ExpiryInterval);
        if (expires > serverNow)
            return (OldCopy.Kept, expires);
        return (await DeleteOldCopyAsync(bucket, entry, cancel).ConfigureAwait(false) ? OldCopy.Expired : OldCopy.Gone, null);
    }

    /// <summary>Deletes an old-layout copy at the revision read: false when it was written or deleted meanwhile (someone else's then).</summary>
    private static async Task<bool> DeleteOldCopyAsync(INatsKVStore bucket, NatsKVEntry<byte[]> entry, CancellationToken cancel)
    {
        try
        {
            await bucket.DeleteAsync(entry.Key, new NatsKVDeleteOpts { Revision = entry.Revision }, cancel).ConfigureAwait(false);
            return true;
        }
        catch (NatsKVWrongLastRevisionException)
        {
            return false;
        }
    }

    /// <summary>The client id of an old-layout key (<c>c.&lt;client id, base64url&gt;</c>), or null when it is not one.</summary>
    private static string? OldCopyClientId(string key)
    {
        try
        {
            var id = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(key.AsSpan(2)));
            return id.Length > 0 ? id : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private enum OldCopy
    {
        Gone,
        Unreadable,
        Superseded,
        Expired,
        Kept,
    }

    [LoggerMessage(EventId = 2458, Level = LogLevel.Information, Message = "Cluster: old-layout session copies (c.<client id>) in {Bucket}: {Deleted} deleted ({Superseded} superseded by their owner's copy, {Expired} expired, {Unreadable} unreadable), {Kept} kept for their clients{Next}")]
    private static partial void LogOldCopiesPass(ILogger logger, string bucket, int deleted, int superseded, int expired, int unreadable, int kept, string next);

    [LoggerMessage(EventId = 2459, Level = LogLevel.Warning, Message = "Cluster: the clean-up of old-layout session copies in {Bucket} failed ({Error}); trying again in {Seconds:0} s")]
    private static partial void LogOldCopiesFailed(ILogger logger, string bucket, string error, double seconds);
}
