using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Broker.Core.AccessControl;
using Broker.Core.Cluster;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Broker.Cluster;

/// <summary>
/// The banned list, the same on every node (EMQX replicates its banned table to every node): a ban added or lifted on
/// one node, by an operator or by login_failure, is added or lifted on all.
/// </summary>
/// <remarks>
/// <para>The cluster's list is a JetStream key-value bucket <c>&lt;cluster.name&gt;-banned</c> (history 1,
/// <c>cluster.owner_replicas</c> copies, as the client-id registry): key <c>b.&lt;as&gt;.&lt;who, base64url&gt;</c>,
/// value the ban as JSON with the node and boot that made it and whether it disconnected the clients it matched. Each
/// node keeps its own copy (<c>data/banned</c>, which a CONNECT reads without asking anyone): it writes its own changes
/// to the bucket, in order, retrying while NATS or JetStream is away (so a change made during a split reaches the others
/// when it heals, the later write of one key winning), and watches the bucket, applying the others' changes as they
/// come. A watch starts with the bucket's current contents: a node that starts, joins or reconnects takes every ban in
/// force and lifts the bans the bucket says were lifted (a deletion is kept in the bucket as its last entry); a ban it
/// holds that the bucket has never heard of (made before the node was in a cluster) is written there. A ban lifted on
/// a node while it was out of the cluster (left, or never joined: <see cref="Broker.Core.Hosting.IClusterPort.LiftedBans"/>, kept across
/// restarts) is written there too, as a deletion at the revision read, if the bucket's ban was written before the
/// lifting; if it was written after it (another node banned again meanwhile), the bucket's ban wins. "Before" is in the
/// NATS server's time: the bucket's entry has the server's stamp, and this node's time of the lifting is corrected by
/// its clock's offset to the server's (<see cref="ServerClock"/>, sampled by a write of its own at each watch's start),
/// the doubt (half that write's round trip) keeping the ban. So is a lifting made in the cluster that was not written before the node stopped,
/// restarted or left (NATS unreachable): the core keeps every lifting until this node has written it.</para>
/// <para>Until its first read of the bucket since it started or joined is complete, a node holds every CONNECT before
/// its ban check (<see cref="BansRead"/>), so a ban made on another node refuses the client from its first CONNECT
/// here; it stops holding them <c>cluster.node_timeout</c> after it started or joined if the read has not come (NATS
/// unreachable, JetStream slow), goes on with its own list and says so in the log, once.</para>
/// <para>Expiry is each ban's <c>until</c>, checked by every node at CONNECT as on a single node; an expired ban found in
/// the bucket when a watch starts is deleted from it.</para>
/// </remarks>
internal sealed partial class ClusterNode : IBanObserver
{
    private readonly Channel<BanChange> _banChanges = Channel.CreateUnbounded<BanChange>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource<INatsKVStore> _bannedBucket = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _bansRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // This node's clock against the NATS server's, sampled at each watch's start: what "before" means for a ban or a
    // lifting made here while out of the cluster, against the server's stamp of the bucket's entry.
    private readonly ServerClock _serverClock = new();

    private string BannedBucketName => _options.Name + "-banned";

    /// <inheritdoc/>
    public Task BansRead => _bansRead.Task;

    /// <inheritdoc/>
    public void BanAdded(Ban ban, bool disconnects) => _banChanges.Writer.TryWrite(new BanChange(ban.As, ban.Who, ban, disconnects, ban.At));

    /// <inheritdoc/>
    /// <remarks>The core keeps the lifting (<see cref="IClusterPort.LiftedBans"/>, persisted) until it is written here.</remarks>
    public void BanRemoved(BanKind kind, string who) => _banChanges.Writer.TryWrite(new BanChange(kind, who, null, false, _core.TimeProvider.GetUtcNow()));

    /// <summary>Opens the bucket, then writes this node's changes and applies the others', until the node stops.</summary>
    private async Task ReplicateBansAsync(CancellationToken cancel)
    {
        using var observing = _core.ObserveBans(this);
        var bucket = await OpenBucketAsync(BannedBucketName, "the banned list (broker cluster " + _options.Name + ")", _bannedBucket, cancel).ConfigureAwait(false);
        if (bucket is null)
            return;
        var writing = Task.Run(() => WriteBanChangesAsync(bucket, cancel), cancel);
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                await WatchBansAsync(bucket, cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException or InvalidOperationException)
            {
                if (_core.ShouldLog(0x2440, nameof(LogBanWatchFailed), null))
                    LogBanWatchFailed(_logger, BannedBucketName, ex.Message);
            }
            await DelayQuietlyAsync(TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false);
        }
        await writing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// From start or join: CONNECTs wait for the first read of the bucket (<see cref="BansRead"/>), cluster.node_timeout
    /// at most; then they go on with this node's own list, which the read corrects when it comes.
    /// </summary>
    private async Task HoldConnectsUntilBansReadAsync(CancellationToken cancel)
    {
        try
        {
            await _bansRead.Task.WaitAsync(_options.NodeTimeout, _core.TimeProvider, cancel).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            if (_bansRead.TrySetResult())
                LogBansNotRead(_logger, BannedBucketName, _options.NodeTimeout.TotalMilliseconds, _core.Bans().Count);
        }
        catch (OperationCanceledException)
        {
            _bansRead.TrySetResult(); // stopping or leaving: whatever waits is served alone
        }
    }

    /// <summary>The watch has the bucket's contents in this node's list: the CONNECTs held meanwhile go on.</summary>
    private void BansReadComplete()
    {
        if (_bansRead.TrySetResult())
            LogBansRead(_logger, BannedBucketName, _core.Bans().Count);
    }

    /// <summary>This node's changes, one at a time in the order made; one that fails is tried again until it is written.</summary>
    private async Task WriteBanChangesAsync(INatsKVStore bucket, CancellationToken cancel)
    {
        try
        {
            await foreach (var change in _banChanges.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
            {
                for (var attempt = 0; ; attempt++)
                {
                    try
                    {
                        var key = BanKey(change.Kind, change.Who);
                        if (change.Ban is { } ban)
                        {
                            await bucket.PutAsync(key, BanValue(ban, change.Disconnects), cancellationToken: cancel).ConfigureAwait(false);
                        }
                        else
                        {
                            await bucket.DeleteAsync(key, cancellationToken: cancel).ConfigureAwait(false);
                            // Written: the core no longer keeps this lifting (nor an earlier one of the same) for a restart.
                            foreach (var kept in _core.LiftedBans())
                            {
                                if (kept.As == change.Kind && kept.Who == change.Who && kept.At <= change.At)
                                    _core.ForgetLifted(kept);
                            }
                        }
                        break;
                    }
                    catch (Exception ex) when (ex is NatsException or TimeoutException || (ex is OperationCanceledException && !cancel.IsCancellationRequested))
                    {
                        if (attempt == 0 && _core.ShouldLog(0x2441, nameof(LogBanWriteRetry), null))
                            LogBanWriteRetry(_logger, BannedList.KindName(change.Kind), change.Who, ex.Message);
                        await DelayQuietlyAsync(TimeSpan.FromMilliseconds(500), cancel).ConfigureAwait(false);
                        cancel.ThrowIfCancellationRequested();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
    }

    /// <summary>One watch of the bucket: its contents first (reconciled with this node's list once complete), then every change.</summary>
    private async Task WatchBansAsync(INatsKVStore bucket, CancellationToken cancel)
    {
        // Before the contents are compared with what this node did alone: how far its clock is from the server's now.
        await SampleServerClockAsync(bucket, cancel).ConfigureAwait(false);
        var seen = new HashSet<(BanKind, string)>();
        var initial = true;
        var now = _core.TimeProvider.GetUtcNow();
        var lifted = new Dictionary<(BanKind, string), LiftedBan>();
        foreach (var kept in _core.LiftedBans())
            lifted[(kept.As, kept.Who)] = kept;
        var held = new Dictionary<(BanKind, string), Ban>();
        foreach (var ban in _core.Bans())
            held[(ban.As, ban.Who)] = ban;
        var opts = new NatsKVWatchOpts
        {
            OnNoData = async _ =>
            {
                if (initial)
                {
                    initial = false;
                    BansReadComplete();
                    ForgetLiftedUnknown(lifted);
                    await UploadUnknownBansAsync(bucket, seen, cancel).ConfigureAwait(false);
                }
                return false;
            },
        };
        await foreach (var entry in bucket.WatchAsync<byte[]>(opts: opts, cancellationToken: cancel).ConfigureAwait(false))
        {
            if (TryParseBanKey(entry.Key, out var kind, out var who))
            {
                seen.Add((kind, who));
                if (initial && lifted.Remove((kind, who), out var liftedHere) && await SendLiftedAsync(bucket, entry, liftedHere, cancel).ConfigureAwait(false))
                {
                    // Lifted here after the bucket's ban was written: not applied (the deletion written comes back).
                }
                else if (entry.Operation is NatsKVOperation.Del or NatsKVOperation.Purge)
                {
                    if (initial && held.TryGetValue((kind, who), out var mine) && await SendAddedAsync(bucket, entry, mine, now, cancel).ConfigureAwait(false))
                    {
                        // Banned here after the bucket's deletion was written: kept (the ban written comes back).
                    }
                    else if (_core.ApplyUnban(kind, who))
                        LogBanApplied(_logger, "lifted", BannedList.KindName(kind), who, "the cluster's list");
                }
                else if (ReadBan(entry.Value, kind, who) is { } remote)
                {
                    if (remote.Ban.Until <= now && initial)
                    {
                        _ = bucket.DeleteAsync(entry.Key, new NatsKVDeleteOpts { Revision = entry.Revision }, cancel).AsTask()
                            .ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
                    }
                    else if (!SameBan(remote.Ban))
                    {
                        // This node's own change comes back too; it is applied only if this node has since lost it
                        // (a deletion in the bucket it applied before its pending write went out).
                        var disconnect = remote.Disconnects && remote.Boot != _boot && remote.Ban.Until > _core.TimeProvider.GetUtcNow();
                        // Held with the time the server stamped its write, in this node's clock, not the maker's (which
                        // may be off): what this node later orders it against (a lifting met when it comes back) is
                        // in the server's time too. Whole seconds, as a ban's time is.
                        var at = _serverClock.ToLocal(entry.Created);
                        await _core.ApplyBanAsync(remote.Ban with { At = at.AddTicks(-(at.UtcTicks % TimeSpan.TicksPerSecond)) }, disconnect).ConfigureAwait(false);
                        LogBanApplied(_logger, "added", BannedList.KindName(kind), who, "node " + remote.Node);
                    }
                }
            }
            if (initial && entry.Delta == 0)
            {
                initial = false;
                BansReadComplete();
                ForgetLiftedUnknown(lifted);
                await UploadUnknownBansAsync(bucket, seen, cancel).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// One sample of this node's clock against the NATS server's (<see cref="ServerClock"/>): a write of this node's own
    /// key <c>t.&lt;node&gt;</c> between two readings of its clock, and the server's stamp of it read back. A skew of a
    /// second or more is logged: it is corrected for, but an operator may want to fix the clock.
    /// </summary>
    /// <returns>The server's stamp of the write: its time now, near enough.</returns>
    private async Task<DateTimeOffset> SampleServerClockAsync(INatsKVStore bucket, CancellationToken cancel)
    {
        var key = ClockKey(NodeName);
        var before = _core.TimeProvider.GetUtcNow();
        var revision = await bucket.PutAsync(key, Encoding.UTF8.GetBytes(NodeName), cancellationToken: cancel).ConfigureAwait(false);
        var after = _core.TimeProvider.GetUtcNow();
        var entry = await bucket.GetEntryAsync<byte[]>(key, revision, cancellationToken: cancel).ConfigureAwait(false);
        var offset = _serverClock.Sample(before, entry.Created, after);
        if (offset.Duration() >= TimeSpan.FromSeconds(1) && _core.ShouldLog(0x2457, nameof(LogClockSkew), null))
            LogClockSkew(_logger, offset.TotalMilliseconds, _serverClock.Error.TotalMilliseconds, bucket.Bucket);
        return entry.Created;
    }

    /// <summary>
    /// A ban this node lifted while out of the cluster, met in the bucket's contents: when the bucket's entry is a ban
    /// written before the lifting, the lifting is written there (a deletion at that entry's revision) and true says the
    /// entry is not to be applied; otherwise (a deletion, or a ban written later) the bucket's entry wins. Either way the
    /// lifting is no longer kept. NATS failing throws, and the lifting is kept for the next watch.
    /// </summary>
    private async Task<bool> SendLiftedAsync(INatsKVStore bucket, NatsKVEntry<byte[]> entry, LiftedBan lifted, CancellationToken cancel)
    {
        if (entry.Operation is not NatsKVOperation.Put || !_serverClock.LiftedAfter(lifted, entry.Created))
        {
            _core.ForgetLifted(lifted);
            return false;
        }
        try
        {
            await bucket.DeleteAsync(entry.Key, new NatsKVDeleteOpts { Revision = entry.Revision }, cancel).ConfigureAwait(false);
            LogLiftedSent(_logger, BannedList.KindName(lifted.As), lifted.Who, lifted.At);
        }
        catch (NatsKVWrongLastRevisionException)
        {
            // Another node wrote the key meanwhile, later than the lifting: that write wins, and the watch brings it.
        }
        _core.ForgetLifted(lifted);
        return true;
    }

    /// <summary>
    /// A ban this node holds, met as a deletion in the bucket's contents: when this node made the ban after the deletion
    /// was written, or in the same second (it had left the cluster, or its write is still on the way), the ban is written there (at that entry's
    /// revision) and true says the deletion is not to be applied; otherwise the deletion wins. NATS failing throws, and
    /// the next watch looks again.
    /// </summary>
    private async Task<bool> SendAddedAsync(INatsKVStore bucket, NatsKVEntry<byte[]> entry, Ban ban, DateTimeOffset now, CancellationToken cancel)
    {
        // A ban's time has whole seconds (as EMQX's API gives it): one made in the deletion's second is taken as later,
        // so the doubt keeps the ban (ServerClock.BannedAfter).
        if (!_serverClock.BannedAfter(ban, entry.Created) || ban.Until <= now)
            return false;
        try
        {
            await bucket.UpdateAsync(entry.Key, BanValue(ban, disconnects: false), entry.Revision, cancellationToken: cancel).ConfigureAwait(false);
            LogAddedSent(_logger, BannedList.KindName(ban.As), ban.Who, ban.At);
        }
        catch (NatsKVWrongLastRevisionException)
        {
            // Another node wrote the key meanwhile, later than this ban: that write wins, and the watch brings it.
        }
        return true;
    }

    /// <summary>At the end of the bucket's contents: the bans lifted here that the bucket has never heard of need not be sent.</summary>
    private void ForgetLiftedUnknown(Dictionary<(BanKind, string), LiftedBan> lifted)
    {
        foreach (var kept in lifted.Values)
            _core.ForgetLifted(kept);
        lifted.Clear();
    }

    /// <summary>Whether this node already holds exactly this ban (its own change coming back, or a watch started again).</summary>
    private bool SameBan(Ban ban)
    {
        foreach (var held in _core.Bans())
        {
            if (held.As == ban.As && held.Who == ban.Who)
                return held.Until == ban.Until && held.Reason == ban.Reason && held.By == ban.By; // not At: a received ban's is this node's (above)
        }
        return false;
    }

    /// <summary>Bans this node holds that the bucket has never heard of (made while it was alone): written there, unless someone wrote the key first.</summary>
    private async Task UploadUnknownBansAsync(INatsKVStore bucket, HashSet<(BanKind, string)> seen, CancellationToken cancel)
    {
        foreach (var ban in _core.Bans())
        {
            if (seen.Contains((ban.As, ban.Who)))
                continue;
            try
            {
                await bucket.CreateAsync(BanKey(ban.As, ban.Who), BanValue(ban, disconnects: false), cancellationToken: cancel).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsKVCreateException or NatsException or TimeoutException)
            {
                // Someone wrote it first (the watch brings theirs), or NATS went away (the next watch tries again).
            }
        }
    }

    /// <summary>
    /// Creates (or opens) a bucket of <c>cluster.owner_replicas</c> copies (1 if NATS has fewer servers, logged),
    /// trying until it exists (JetStream may still be electing its leaders); null once the node stops.
    /// </summary>
    private async Task<INatsKVStore?> OpenBucketAsync(string name, string description, TaskCompletionSource<INatsKVStore> ready, CancellationToken cancel)
    {
        var kv = new NatsKVContext(new NatsJSContext(_nats));
        var replicas = _options.OwnerReplicas;
        // A fresh NATS cluster often leaves the first create unanswered when several nodes create one replicated bucket
        // at once: each attempt waits 1 s, then twice as long up to NATS's own 5 s, rather than 5 s from the start.
        var attemptTimeout = TimeSpan.FromSeconds(1);
        var waited = attemptTimeout;
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                waited = attemptTimeout;
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                attempt.CancelAfter(attemptTimeout);
                attemptTimeout = TimeSpan.FromTicks(Math.Min(attemptTimeout.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                var store = await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(name)
                {
                    History = 1,
                    NumberOfReplicas = replicas,
                    Storage = NatsKVStorageType.File,
                    Description = description,
                }, attempt.Token).ConfigureAwait(false);
                LogBucketReady(_logger, name, replicas);
                ready.TrySetResult(store);
                return store;
            }
            catch (NatsJSApiException ex) when (replicas > 1 && (ex.Message.Contains("insufficient resources", StringComparison.OrdinalIgnoreCase)
                || ex.Message.Contains("no suitable peers", StringComparison.OrdinalIgnoreCase)
                || ex.Message.Contains("not supported in non-clustered mode", StringComparison.OrdinalIgnoreCase)))
            {
                LogRegistryReplicas(_logger, name, replicas, ex.Message);
                replicas = 1;
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException || (ex is OperationCanceledException && !cancel.IsCancellationRequested))
            {
                var timedOut = ex is OperationCanceledException;
                if (_core.ShouldLog(0x2442, nameof(LogRegistryRetry), name))
                    LogRegistryRetry(_logger, name, timedOut ? $"no answer in {waited.TotalSeconds:0} s" : ex.Message);
                if (!timedOut)
                    await DelayQuietlyAsync(TimeSpan.FromMilliseconds(500), cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return null;
    }

    private static async Task DelayQuietlyAsync(TimeSpan delay, CancellationToken cancel)
    {
        try
        {
            await Task.Delay(delay, cancel).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A ban's key: <c>b.&lt;as&gt;.&lt;who&gt;</c>, who in base64url (keys allow letters, digits, '-', '_', '=', '.', '/').</summary>
    private static string BanKey(BanKind kind, string who) => "b." + BannedList.KindName(kind) + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(who));

    /// <summary>The key a node samples the server's clock with: <c>t.&lt;node token&gt;</c> (not a ban's: watchers skip it).</summary>
    private static string ClockKey(string node) => "t." + NodeSubjects.TokenOf(node);

    private static bool TryParseBanKey(string key, out BanKind kind, out string who)
    {
        who = "";
        kind = default;
        var parts = key.Split('.');
        if (parts.Length != 3 || parts[0] != "b" || !BannedList.TryParseKind(parts[1], out kind))
            return false;
        try
        {
            who = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[2]));
            return who.Length > 0;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private byte[] BanValue(Ban ban, bool disconnects)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("as", BannedList.KindName(ban.As));
            json.WriteString("who", ban.Who);
            json.WriteString("reason", ban.Reason);
            json.WriteString("by", ban.By);
            json.WriteNumber("at", ban.At.ToUnixTimeMilliseconds());
            json.WriteNumber("until", ban.Until.ToUnixTimeMilliseconds());
            json.WriteBoolean("disconnects", disconnects);
            json.WriteString("node", NodeName);
            json.WriteString("boot", _boot);
            json.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>A ban as the bucket holds it, or null if it cannot be read (a newer node's form: ignored, logged).</summary>
    private RemoteBan? ReadBan(byte[]? value, BanKind kind, string who)
    {
        if (value is null)
            return null;
        try
        {
            using var document = JsonDocument.Parse(value);
            var root = document.RootElement;
            var ban = new Ban(kind, who, root.GetProperty("reason").GetString() ?? "", root.GetProperty("by").GetString() ?? "",
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("at").GetInt64()),
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("until").GetInt64()));
            return new RemoteBan(ban, root.GetProperty("disconnects").GetBoolean(), root.GetProperty("node").GetString() ?? "",
                root.GetProperty("boot").GetString() ?? "");
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentOutOfRangeException)
        {
            if (_core.ShouldLog(0x2443, nameof(LogBanUnreadable), null))
                LogBanUnreadable(_logger, BannedList.KindName(kind), who, ex.Message);
            return null;
        }
    }

    private readonly record struct BanChange(BanKind Kind, string Who, Ban? Ban, bool Disconnects, DateTimeOffset At);

    private sealed record RemoteBan(Ban Ban, bool Disconnects, string Node, string Boot);

    [LoggerMessage(EventId = 2440, Level = LogLevel.Warning, Message = "Cluster: watching the banned list {Bucket} failed ({Error}); trying again")]
    private static partial void LogBanWatchFailed(ILogger logger, string bucket, string error);

    [LoggerMessage(EventId = 2441, Level = LogLevel.Warning, Message = "Cluster: the ban of {As} {Who} cannot be written to the cluster's list yet ({Error}); it holds on this node and is written when NATS answers")]
    private static partial void LogBanWriteRetry(ILogger logger, string @as, string who, string error);

    [LoggerMessage(EventId = 2442, Level = LogLevel.Information, Message = "Cluster: {Bucket} ready ({Replicas} replicas)")]
    private static partial void LogBucketReady(ILogger logger, string bucket, int replicas);

    [LoggerMessage(EventId = 2443, Level = LogLevel.Warning, Message = "Cluster: the cluster's ban of {As} {Who} cannot be read ({Error}): ignored")]
    private static partial void LogBanUnreadable(ILogger logger, string @as, string who, string error);

    [LoggerMessage(EventId = 2447, Level = LogLevel.Information, Message = "Cluster: banned list read from {Bucket} ({Count} bans in force here): CONNECTs are checked against it")]
    private static partial void LogBansRead(ILogger logger, string bucket, int count);

    [LoggerMessage(EventId = 2448, Level = LogLevel.Warning, Message = "Cluster: the banned list {Bucket} not read within cluster.node_timeout ({Timeout} ms): CONNECTs are no longer held for it and are checked against this node's own list ({Count} bans) until it is")]
    private static partial void LogBansNotRead(ILogger logger, string bucket, double timeout, int count);

    [LoggerMessage(EventId = 2449, Level = LogLevel.Information, Message = "Cluster: ban of {As} {Who}, lifted here at {At} while out of the cluster or before NATS answered, lifted in the cluster's list")]
    private static partial void LogLiftedSent(ILogger logger, string @as, string who, DateTimeOffset at);

    [LoggerMessage(EventId = 2455, Level = LogLevel.Information, Message = "Cluster: ban of {As} {Who}, made here at {At} after the cluster's list had lifted it, written to the cluster's list")]
    private static partial void LogAddedSent(ILogger logger, string @as, string who, DateTimeOffset at);

    [LoggerMessage(EventId = 2457, Level = LogLevel.Warning, Message = "Cluster: this node's clock is {Offset:0} ms behind its NATS server's (±{Error:0} ms, negative: ahead), sampled on {Bucket}; bans and liftings made here are ordered against the cluster's in the server's time, but the clock wants fixing")]
    private static partial void LogClockSkew(ILogger logger, double offset, double error, string bucket);

    [LoggerMessage(EventId = 2444, Level = LogLevel.Information, Message = "Cluster: ban {Change}: {As} {Who}, from {Source}")]
    private static partial void LogBanApplied(ILogger logger, string change, string @as, string who, string source);
}
