using System.Collections.Concurrent;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Sessions;

/// <summary>
/// All sessions by client id: creation, resumption, takeover, expiry, and the delayed will.
/// </summary>
/// <remarks>
/// Connects of one client id are serialised by a striped async lock, so two connections racing with the same id
/// resolve into one takeover. Disconnects take no such lock (a takeover waits for the old connection's
/// disconnect while holding it); they and the expiry timers agree through the session's own lock
/// (<see cref="Session.TryBind"/> / <see cref="Session.TerminateIfOffline"/>).
/// </remarks>
internal sealed partial class SessionManager
{
    private static readonly TimeSpan TakeoverTimeout = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConnectGate> _gates = new(StringComparer.Ordinal);
    private readonly ISessionHost _engine;
    private readonly ILogger _logger;

    public SessionManager(ISessionHost engine)
    {
        _engine = engine;
        _logger = engine.LoggerFactory.CreateLogger("Broker.Core.Sessions");
    }

    public int Count => _sessions.Count;

    public bool TryGet(string clientId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Session? session) =>
        _sessions.TryGetValue(clientId, out session);

    public IEnumerable<Session> All => _sessions.Values;

    /// <summary>Every session, read without taking the dictionary's locks (unlike <see cref="All"/>, which copies under all of them).</summary>
    public IEnumerable<Session> Enumerate()
    {
        foreach (var (_, session) in _sessions)
            yield return session;
    }

    /// <summary>
    /// Finds or creates the session for a connection that has been authenticated: takes over a connection with
    /// the same client id [MQTT-3.1.4-3], discards the old session on clean start, resumes it otherwise. In a cluster,
    /// this node first becomes the client id's owner (<see cref="Cluster.IClusterLink.ClaimClientAsync"/>), taking over
    /// the previous owner's connection and session. Returns a null session when the cluster refused the claim.
    /// </summary>
    public async Task<(Session? Session, bool Present)> ConnectAsync(
        ISessionConnection channel, ClientInfo client, bool isSuperuser, bool cleanStart, uint expiryInterval)
    {
        var gate = await EnterAsync(client.ClientId).ConfigureAwait(false);
        try
        {
            // Clustered: the one null check a single node pays on CONNECT.
            if (_engine.Cluster is { } cluster)
            {
                var claim = await cluster.ClaimClientAsync(client.ClientId, discard: cleanStart).ConfigureAwait(false);
                if (claim.Refused)
                    return (null, false);
                // The cluster's copy of a dead owner's session stands in for it only where there is none here.
                if (claim.Session is { } handedOver && !(claim.Copy && _sessions.ContainsKey(client.ClientId)))
                    await AdoptAsync(client.ClientId, handedOver).ConfigureAwait(false);
            }
            if (_sessions.TryGetValue(client.ClientId, out var existing))
            {
                if (existing.Channel is { } old && !ReferenceEquals(old, channel))
                {
                    await TakeOverAsync(old, existing).ConfigureAwait(false);
                    // A session with expiry 0 ends when its connection closes (3.1.2.11.2), takeover or not.
                    if (existing.ExpiryInterval == 0)
                        await TerminateAsync(existing, "takenover", null).ConfigureAwait(false);
                }
                if (existing.IsTerminated)
                {
                    _sessions.TryRemove(new KeyValuePair<string, Session>(client.ClientId, existing));
                    existing = null;
                }
                else if (cleanStart)
                {
                    await TerminateAsync(existing, "discarded", _engine.Hooks.SessionDiscarded).ConfigureAwait(false);
                    existing = null;
                }
                else if (existing.TryBind(channel))
                {
                    if (existing.ExpiryInterval > 0 && expiryInterval == 0)
                        _engine.Cluster?.SessionChanged(client.ClientId); // no longer outlives its connection: the copy goes
                    existing.ExpiryInterval = expiryInterval;
                    existing.Client = client;
                    existing.IsSuperuser = isSuperuser;
                    // Its subscriptions were authorized for the previous connection (address, user name).
                    _engine.ReauthorizeSubscriptions(existing);
                    existing.SyncPersistence();
                    if (expiryInterval > 0)
                        _engine.Cluster?.SessionChanged(client.ClientId);
                    await RunAsync(_engine.Hooks.SessionResumed, new SessionContext { Client = client }).ConfigureAwait(false);
                    return (existing, true);
                }
            }

            var session = new Session(_engine, client.ClientId)
            {
                ExpiryInterval = expiryInterval,
                Client = client,
                IsSuperuser = isSuperuser,
            };
            session.TryBind(channel);
            _sessions[client.ClientId] = session;
            session.SyncPersistence();
            if (expiryInterval > 0)
                _engine.Cluster?.SessionChanged(client.ClientId);
            await RunAsync(_engine.Hooks.SessionCreated, new SessionContext { Client = client }).ConfigureAwait(false);
            return (session, false);
        }
        finally
        {
            Leave(gate);
        }
    }

    /// <summary>
    /// Takes the client id's own connect lock: connects, takeovers and cluster claims of one id run one at a time, and
    /// never wait for another id's (a takeover waits up to 5 s for the old connection; a cluster claim, a network round
    /// trip). The lock lives while anyone holds or waits for it.
    /// </summary>
    private async ValueTask<ConnectGate> EnterAsync(string clientId)
    {
        while (true)
        {
            var gate = _gates.GetOrAdd(clientId, static id => new ConnectGate(id));
            if (!gate.TryJoin())
                continue; // being removed by its last user: a fresh one takes its place
            await gate.Semaphore.WaitAsync().ConfigureAwait(false);
            return gate;
        }
    }

    private void Leave(ConnectGate gate)
    {
        gate.Semaphore.Release();
        if (gate.Quit())
            _gates.TryRemove(new KeyValuePair<string, ConnectGate>(gate.ClientId, gate));
    }

    private sealed class ConnectGate(string clientId)
    {
        private int _users; // holders and waiters; -1 once retired

        public string ClientId { get; } = clientId;

        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public bool TryJoin()
        {
            for (var users = Volatile.Read(ref _users); users >= 0; users = Volatile.Read(ref _users))
            {
                if (Interlocked.CompareExchange(ref _users, users + 1, users) == users)
                    return true;
            }
            return false;
        }

        /// <summary>True when this was the last user: the gate is retired and must leave the dictionary.</summary>
        public bool Quit() =>
            Interlocked.Decrement(ref _users) == 0 && Interlocked.CompareExchange(ref _users, -1, 0) == 0;
    }

    /// <summary>
    /// A session another node handed over (its handover form, <see cref="Persistence.SessionRecords.EncodeHandover"/>):
    /// restored here offline, as a persistence store's session is, replacing any stale copy. Caller holds the client
    /// id's connect lock.
    /// </summary>
    private async Task AdoptAsync(string clientId, byte[] handedOver)
    {
        List<KeyValuePair<string, byte[]>> records;
        try
        {
            records = Persistence.SessionRecords.DecodeHandover(handedOver);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            LogHandoverUnreadable(_logger, ex, clientId);
            return;
        }
        if (_sessions.TryGetValue(clientId, out var stale))
            await TerminateAsync(stale, "takenover", null).ConfigureAwait(false);
        Restore(records, fromStore: false);
    }

    /// <summary>
    /// The cluster's copy of a dead node's session, adopted here: if this node has no session of
    /// <paramref name="clientId"/> and <paramref name="claim"/> (the cluster registry's compare-and-set) succeeds, both
    /// under the id's connect lock, the copy is restored offline, so that what is published for it queues here until its
    /// client returns. False when either check failed.
    /// </summary>
    public async Task<bool> AdoptCopyAsync(string clientId, byte[] copy, Func<Task<bool>> claim)
    {
        var gate = await EnterAsync(clientId).ConfigureAwait(false);
        try
        {
            if (_sessions.ContainsKey(clientId) || !await claim().ConfigureAwait(false))
                return false;
            await AdoptAsync(clientId, copy).ConfigureAwait(false);
            if (!_sessions.ContainsKey(clientId))
                return false;
            _engine.Cluster?.SessionChanged(clientId); // the copy names this node now
            return true;
        }
        finally
        {
            Leave(gate);
        }
    }

    /// <summary>
    /// The messages of a session's state in the handover form that its client may not have had: queued, or sent and
    /// not acknowledged (a QoS 2 message whose PUBREC came, <see cref="Persistence.StoredMessageState.Released"/>, it
    /// has), in their order.
    /// </summary>
    internal static List<Persistence.MessageRecord> Undelivered(byte[] handover)
    {
        var messages = new List<KeyValuePair<long, Persistence.MessageRecord>>();
        foreach (var (key, value) in Persistence.SessionRecords.DecodeHandover(handover))
        {
            if (Persistence.SessionRecords.TryParseKey(key, out var kind, out _, out var number) && kind == 'm'
                && Persistence.SessionRecords.ReadMessage(value) is { State: not Persistence.StoredMessageState.Released } message)
                messages.Add(new(number, message));
        }
        messages.Sort(static (a, b) => a.Key.CompareTo(b.Key));
        return [.. messages.Select(m => m.Value)];
    }

    /// <summary>
    /// What another node held for <paramref name="clientId"/>'s session when it lost the id to this node (see
    /// <see cref="Undelivered"/>): delivered into this node's session of the id, after what it holds. Returns how many;
    /// 0 when this node has no session of the id (it ended meanwhile: its messages go with it).
    /// </summary>
    public async Task<int> TakeUndeliveredAsync(string clientId, byte[] handover)
    {
        var messages = Undelivered(handover);
        var gate = await EnterAsync(clientId).ConfigureAwait(false);
        try
        {
            if (!_sessions.TryGetValue(clientId, out var session))
                return 0;
            foreach (var message in messages)
                session.Deliver(message.Message, message.Qos, message.Retain, message.SubscriptionIds is { } ids ? [.. ids] : null);
            return messages.Count;
        }
        finally
        {
            Leave(gate);
        }
    }

    /// <summary>
    /// Another node now owns <paramref name="clientId"/>: the connection here (if any) is taken over (DISCONNECT 0x8E)
    /// and the session ends here. Returns its state in the handover form when it outlives connections and is not
    /// discarded (the new owner's clean start).
    /// </summary>
    public async Task<byte[]?> ReleaseAsync(string clientId, bool discard)
    {
        var gate = await EnterAsync(clientId).ConfigureAwait(false);
        try
        {
            if (!_sessions.TryGetValue(clientId, out var existing))
                return null;
            if (existing.Channel is { } old)
                await TakeOverAsync(old, existing).ConfigureAwait(false);
            // State and end in one step under the session's lock: nothing delivered between them is lost here.
            var records = discard || existing.ExpiryInterval == 0 ? null : existing.HandOver(_engine.Now.ToUnixTimeMilliseconds());
            if (records is not null)
            {
                await TerminatedAsync(existing, "takenover").ConfigureAwait(false);
                return Persistence.SessionRecords.EncodeHandover(records);
            }
            await TerminateAsync(existing, discard ? "discarded" : "takenover", discard ? _engine.Hooks.SessionDiscarded : null).ConfigureAwait(false);
            return null;
        }
        finally
        {
            Leave(gate);
        }
    }

    private async Task TakeOverAsync(ISessionConnection old, Session session)
    {
        await RunAsync(_engine.Hooks.SessionTakenOver, new SessionContext { Client = session.Client }).ConfigureAwait(false);
        try
        {
            await old.TakeOverAsync().WaitAsync(TakeoverTimeout, _engine.TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The old connection is stuck writing to a dead socket: stop waiting for it; it can no longer
            // reach the session.
            LogTakeoverTimeout(_logger, session.ClientId);
            session.Detach(old, will: null);
        }
    }

    /// <summary>
    /// A connection bound to <paramref name="session"/> has closed. The session ends now if its expiry is 0 (and it
    /// was not taken over), else it waits for its expiry; the will is published now, after its delay, or when the
    /// session ends, whichever comes first [MQTT-3.1.3-9].
    /// </summary>
    public async Task DisconnectedAsync(ISessionConnection channel, Session session, BrokerMessage? will, uint willDelay, bool takenOver)
    {
        var delayed = will is not null && willDelay > 0 && session.ExpiryInterval > 0;
        session.WillDelay = delayed ? TimeSpan.FromSeconds(Math.Min(willDelay, session.ExpiryInterval)) : TimeSpan.Zero;
        if (!session.Detach(channel, delayed ? will : null))
            return;

        // Timers are started before anything is awaited: a connection that binds the session from here on finds
        // them and disposes them (Session.TryBind). Started after the will (whose message.publish hooks may take
        // a while), they could outlive such a connection and end the session early. A session being taken over
        // gets none: the connection taking it decides its fate next (ConnectAsync).
        if (session.ExpiryInterval != 0 && !takenOver)
        {
            if (delayed)
                session.WillTimer = StartTimer(TimeSpan.FromSeconds(Math.Min(willDelay, session.ExpiryInterval)), () => PublishPendingWillAsync(session));
            if (session.ExpiryInterval != uint.MaxValue)
                session.ExpiryTimer = StartTimer(TimeSpan.FromSeconds(session.ExpiryInterval), () => ExpireAsync(session));
        }

        if (will is not null && !delayed)
            await PublishWillAsync(will, session.Client).ConfigureAwait(false);

        if (session.ExpiryInterval == 0 && !takenOver && session.TerminateIfOffline())
            await TerminatedAsync(session, "normal").ConfigureAwait(false);
    }

    private async Task ExpireAsync(Session session)
    {
        if (session.TerminateIfOffline())
            await TerminatedAsync(session, "expired").ConfigureAwait(false);
    }

    /// <summary>
    /// Ends an offline session now (a kick after its connection closed). Does nothing if a connection bound it
    /// meanwhile or it has already ended.
    /// </summary>
    public async Task DiscardAsync(Session session, string reason)
    {
        if (session.TerminateIfOffline())
            await TerminatedAsync(session, reason).ConfigureAwait(false);
    }

    private async Task PublishPendingWillAsync(Session session)
    {
        if (session.TakePendingWill() is { } will)
            await PublishWillAsync(will, session.Client).ConfigureAwait(false);
    }

    private async Task TerminateAsync(Session session, string reason, Hooks.HookChain<SessionContext>? hook)
    {
        if (!session.Terminate())
            return;
        if (hook is not null)
            await RunAsync(hook, new SessionContext { Client = session.Client }).ConfigureAwait(false);
        await TerminatedAsync(session, reason).ConfigureAwait(false);
    }

    /// <summary>Cleans up after <see cref="Session.Terminate"/>: routes, the registry, the will, the hook.</summary>
    private async Task TerminatedAsync(Session session, string reason)
    {
        _sessions.TryRemove(new KeyValuePair<string, Session>(session.ClientId, session));
        session.RemoveAllSubscriptions();
        // Its copy in the cluster goes too, unless another node took it over (that node's copy replaces it).
        if (session.ExpiryInterval > 0 && reason != "takenover")
            _engine.Cluster?.SessionChanged(session.ClientId);
        if (session.TakePendingWill() is { } will)
            await PublishWillAsync(will, session.Client).ConfigureAwait(false);
        await RunAsync(_engine.Hooks.SessionTerminated, new SessionTerminatedContext { Client = session.Client, Reason = reason }).ConfigureAwait(false);
    }

    private async Task PublishWillAsync(BrokerMessage will, ClientInfo? client)
    {
        try
        {
            await _engine.PublishAsync(will with { Timestamp = _engine.Now }, client).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogWillFailed(_logger, ex, client?.ClientId);
        }
    }

    private ITimer StartTimer(TimeSpan due, Func<Task> action) =>
        _engine.TimeProvider.CreateTimer(static state => _ = ((Func<Task>)state!)(), action, due, Timeout.InfiniteTimeSpan);

    private static ValueTask<HookResult> RunAsync<T>(Hooks.HookChain<T> chain, T context) where T : class =>
        chain.IsEmpty ? ValueTask.FromResult(HookResult.Continue) : chain.RunAsync(context);

    /// <summary>
    /// The sessions a store kept (<c>BrokerEngine.EnablePersistence</c>), offline, with their expiry and will
    /// timers running from when they went offline (from now for those that were connected: the broker did not stop
    /// cleanly). Returns how many; records of a session the store no longer has are left out.
    /// </summary>
    /// <param name="records">The store's records (or a handover's: <paramref name="fromStore"/> false).</param>
    /// <param name="fromStore">
    /// True: the records are this node's store's own; false: another node handed them over, so this node's store (if
    /// any) has none of them yet and writes them all when a connection resumes the session.
    /// </param>
    public int Restore(IEnumerable<KeyValuePair<string, byte[]>> records, bool fromStore = true)
    {
        var sessions = new Dictionary<string, Persistence.SessionRecord>(StringComparer.Ordinal);
        var messages = new Dictionary<string, List<KeyValuePair<long, Persistence.MessageRecord>>>(StringComparer.Ordinal);
        var awaitingRel = new Dictionary<string, List<ushort>>(StringComparer.Ordinal);
        // One message routed to many sessions is stored once per session; restored, they share one copy again.
        var shared = new Dictionary<string, BrokerMessage>(StringComparer.Ordinal);
        foreach (var (key, value) in records)
        {
            if (!Persistence.SessionRecords.TryParseKey(key, out var kind, out var clientId, out var number))
                throw new InvalidDataException($"the store holds a key this broker does not know: '{key}'");
            switch (kind)
            {
                case 's':
                    sessions[clientId] = Persistence.SessionRecords.ReadSession(value);
                    break;
                case 'm':
                    var message = Persistence.SessionRecords.ReadMessage(value);
                    if (shared.TryGetValue(message.Message.Id, out var same) && IsSameMessage(same, message.Message))
                        message = message with { Message = same };
                    else
                        shared[message.Message.Id] = message.Message;
                    (messages.TryGetValue(clientId, out var list) ? list : messages[clientId] = []).Add(new(number, message));
                    break;
                default:
                    (awaitingRel.TryGetValue(clientId, out var ids) ? ids : awaitingRel[clientId] = []).Add((ushort)number);
                    break;
            }
        }
        var now = _engine.Now.ToUnixTimeMilliseconds();
        foreach (var (clientId, record) in sessions)
        {
            var stored = messages.TryGetValue(clientId, out var list) ? list : [];
            stored.Sort(static (a, b) => a.Key.CompareTo(b.Key));
            var session = Session.Restore(_engine, clientId, record, stored, awaitingRel.TryGetValue(clientId, out var ids) ? ids : [], fromStore);
            _sessions[clientId] = session;
            _engine.ReauthorizeSubscriptions(session);
            var offlineSince = record.DisconnectedAtUnixMs > 0 ? record.DisconnectedAtUnixMs : now;
            if (record.Will is not null)
                session.WillTimer = StartTimer(TimeSpan.FromMilliseconds(Math.Max(0, record.WillAtUnixMs - now)), () => PublishPendingWillAsync(session));
            if (session.ExpiryInterval != uint.MaxValue)
            {
                var left = TimeSpan.FromSeconds(session.ExpiryInterval) - TimeSpan.FromMilliseconds(now - offlineSince);
                session.ExpiryTimer = StartTimer(left > TimeSpan.Zero ? left : TimeSpan.Zero, () => ExpireAsync(session));
            }
        }
        return sessions.Count;
    }

    /// <summary>
    /// Whether two stored messages with one id are the same (a copy made with <c>with</c> keeps the id): then the
    /// sessions they were restored for can share one. Messages with MQTT 5 properties are not compared, only kept apart.
    /// </summary>
    private static bool IsSameMessage(BrokerMessage a, BrokerMessage b) =>
        a.Properties is null && b.Properties is null
        && a.Topic == b.Topic && a.Timestamp == b.Timestamp && a.Qos == b.Qos && a.Retain == b.Retain
        && a.MessageExpiryInterval == b.MessageExpiryInterval && a.PublisherId == b.PublisherId
        && a.Payload.Span.SequenceEqual(b.Payload.Span);

    /// <summary>Stops every timer; sessions stay as they are (persistent ones are in the journal, written on stop).</summary>
    public void Shutdown()
    {
        foreach (var session in _sessions.Values)
        {
            session.ExpiryTimer?.Dispose();
            session.WillTimer?.Dispose();
        }
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Takeover of {ClientId}: the old connection did not close in time")]
    private static partial void LogTakeoverTimeout(ILogger logger, string clientId);

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "Publishing the will of {ClientId} failed")]
    private static partial void LogWillFailed(ILogger logger, Exception ex, string? clientId);

    [LoggerMessage(EventId = 22, Level = LogLevel.Error, Message = "The session of {ClientId} handed over by another node cannot be read: it starts anew here")]
    private static partial void LogHandoverUnreadable(ILogger logger, Exception ex, string clientId);
}
