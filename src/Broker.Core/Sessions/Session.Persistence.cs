using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Persistence;
using Broker.Core.Routing;

namespace Broker.Core.Sessions;

/// <summary>
/// A persistent session's state in the journal (<see cref="PersistenceJournal"/>), when persistence is on and the session
/// outlives its connection (expiry &gt; 0): its record (expiry, subscriptions, will, when it went offline), its outgoing
/// QoS 1/2 messages (queued, in flight with their packet ids, released), and incoming QoS 2 packet ids awaiting PUBREL.
/// Every change is written under the session's lock as it happens, so the journal's order is the session's; QoS 0 and
/// sessions that end with their connection are never written.
/// </summary>
internal sealed partial class Session
{
    /// <summary>
    /// After a connection created or resumed this session: writes it when it is persistent now, forgets it when it no
    /// longer is (a resume with expiry 0).
    /// </summary>
    public void SyncPersistence()
    {
        if (_engine.Journal is null)
            return;
        lock (this)
        {
            if (_terminated)
                return;
            if (ExpiryInterval == 0)
            {
                if (_persisted)
                    DeleteAllLocked();
                return;
            }
            var first = !_persisted;
            _persisted = true;
            PutSessionLocked(disconnectedAtUnixMs: 0);
            if (!first)
                return;
            foreach (var (id, entry) in _inflight ?? [])
                PutMessageLocked(entry.Sequence, entry.Released ? StoredMessageState.Released : StoredMessageState.InFlight, id, entry.Message, entry.Qos, entry.Retain, entry.SubscriptionIds, isNew: true);
            foreach (var queued in _queue ?? [])
                PutQueuedLocked(queued);
            foreach (var id in _awaitingRel?.Keys ?? Enumerable.Empty<ushort>())
                _engine.Journal.Put(JournalKey.AwaitingRel(ClientId, _clientHash, id), [], isNew: true);
        }
    }

    // ClientId's hash for the journal's keys, computed once rather than per message.
    private readonly int _clientHash;

    /// <summary>This session is in the persistence store (persistence on, expiry &gt; 0): it survives a restart.</summary>
    public bool IsPersisted => Volatile.Read(ref _persisted);

    /// <param name="disconnectedAtUnixMs">When its connection went; 0 while it has one.</param>
    private void PutSessionLocked(long disconnectedAtUnixMs)
    {
        var subscriptions = _subscriptions is null ? [] : _subscriptions.ToList();
        var will = PendingWillLocked;
        var record = new SessionRecord(ExpiryInterval, disconnectedAtUnixMs, Client?.Username, IsSuperuser, subscriptions,
            [.. _rare?.Trusted ?? []], will, will is null ? 0 : disconnectedAtUnixMs + (long)WillDelay.TotalMilliseconds);
        _engine.Journal!.Put(JournalKey.Session(ClientId, _clientHash), record, isNew: false);
    }

    private List<Unsent>? _unsent; // sync mode: in flight, going out once their state is on disk
    private bool _sendScheduled;
    private int _sendRound;         // Resume sends everything again: a round taken before it sends nothing

    /// <summary>
    /// <c>persistence.sync = sync</c>: a persistent session sends no QoS 2 PUBLISH or PUBREL whose state is not on disk
    /// yet. Otherwise a crash after the send but before the write would bring the message back a step (as never sent,
    /// or as not yet received), the broker would send its PUBLISH again, and a subscriber that had completed it would
    /// get it twice. A QoS 1 PUBLISH goes at once: the same crash can only make it go again, which QoS 1 allows, and
    /// its publisher's PUBACK waited for the write of the copy, so nothing acknowledged is lost. Waiting for the disk
    /// on every window of a QoS 1 subscriber halved its throughput (bench/README.md).
    /// </summary>
    private bool DeferSends(MqttQos qos) => qos == MqttQos.ExactlyOnce && _persisted && _engine.SyncPersistence;

    /// <summary>
    /// Sends in-flight message <paramref name="id"/> (PUBLISH, or PUBREL once <paramref name="released"/>) after a
    /// durable write of its state, which the caller has just put in the journal.
    /// </summary>
    private void SendWhenDurableLocked(ushort id, bool dup, bool released)
    {
        (_unsent ??= []).Add(new Unsent(id, dup, released));
        if (_sendScheduled)
            return;
        _sendScheduled = true;
        _ = SendWhenDurableAsync();
    }

    /// <summary>
    /// Sends in rounds: a round takes what waits now and sends it after a commit asked for once it was taken. What is
    /// added while a write is on its way to the disk waits for the next round, not for the write in progress, which
    /// may have taken its batch before the state was put: a PUBREL sent on that write while the disk still says
    /// "PUBLISH sent" is, after a crash, a PUBLISH sent again that the client has already completed (a QoS 2
    /// message delivered twice).
    /// </summary>
    private async Task SendWhenDurableAsync()
    {
        while (true)
        {
            List<Unsent> taken;
            int round;
            lock (this)
            {
                if (_unsent is null)
                {
                    _sendScheduled = false;
                    return;
                }
                taken = _unsent;
                _unsent = null;
                round = _sendRound;
            }
            while (true)
            {
                try
                {
                    await _engine.Journal!.CommitAsync().ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The disk refuses (full): the journal keeps trying; so do the sends, which must wait for it.
                    await Task.Delay(TimeSpan.FromSeconds(1), _engine.TimeProvider).ConfigureAwait(false);
                }
            }
            lock (this)
            {
                if (round != _sendRound || _channel is not { } channel || !_ready || _inflight is not { } inflight)
                    continue; // Resume sends them all again
                foreach (var (id, dup, released) in taken)
                {
                    // Gone (acknowledged), or moved on to a state whose own send waits for its write.
                    if (!inflight.TryGetValue(id, out var entry) || entry.Released != released)
                        continue;
                    if (released)
                        channel.SendAck(MqttPacketType.PubRel, id, MqttReasonCode.Success);
                    else
                        channel.SendPublish(entry.Message, entry.Qos, id, entry.Retain, dup, entry.SubscriptionIds);
                }
            }
        }
    }

    /// <param name="Id">The packet id.</param>
    /// <param name="Dup">Sent before: DUP set on the PUBLISH.</param>
    /// <param name="Released">The state that was put (PUBREL to send) when it was added.</param>
    private readonly record struct Unsent(ushort Id, bool Dup, bool Released);

    private void PutQueuedLocked(QueuedDelivery delivery) =>
        PutMessageLocked(delivery.Sequence, StoredMessageState.Queued, 0, delivery.Message, delivery.Qos, delivery.Retain, delivery.SubscriptionIds, isNew: true);

    private void PutMessageLocked(long sequence, StoredMessageState state, ushort packetId, BrokerMessage message, MqttQos qos, bool retain, List<uint>? subscriptionIds, bool isNew)
    {
        if (!_persisted || qos == MqttQos.AtMostOnce)
            return;
        _engine.Journal!.Put(JournalKey.Message(ClientId, _clientHash, sequence),
            new MessageRecord(state, packetId, qos, retain, subscriptionIds, message), isNew);
    }

    private void DeleteMessageLocked(long sequence, MqttQos qos = MqttQos.AtLeastOnce)
    {
        if (_persisted && qos != MqttQos.AtMostOnce)
            _engine.Journal!.Delete(JournalKey.Message(ClientId, _clientHash, sequence));
    }

    /// <summary>Removes everything of this session from the journal; it is no longer persisted.</summary>
    private void DeleteAllLocked()
    {
        var journal = _engine.Journal!;
        journal.Delete(JournalKey.Session(ClientId, _clientHash));
        foreach (var entry in _inflight?.Values ?? Enumerable.Empty<InflightEntry>())
            DeleteMessageLocked(entry.Sequence, entry.Qos);
        foreach (var queued in _queue ?? [])
            DeleteMessageLocked(queued.Sequence, queued.Qos);
        foreach (var id in _awaitingRel?.Keys ?? Enumerable.Empty<ushort>())
            journal.Delete(JournalKey.AwaitingRel(ClientId, _clientHash, id));
        _persisted = false;
    }

    /// <summary>
    /// A session as the store kept it, offline: its subscriptions routed again (those the client made are checked per
    /// delivery until re-authorized), its messages in order (in flight ones keep their packet ids, sent again with DUP
    /// when the client returns [MQTT-4.4.0-1]), its incoming QoS 2 packet ids.
    /// </summary>
    /// <param name="persisted">Whether this node's store holds the records (false for a session another node handed over).</param>
    public static Session Restore(ISessionHost engine, string clientId, SessionRecord record,
        IReadOnlyList<KeyValuePair<long, MessageRecord>> messages, IReadOnlyList<ushort> awaitingRel, bool persisted = true)
    {
        var session = new Session(engine, clientId)
        {
            ExpiryInterval = record.ExpiryInterval,
            IsSuperuser = record.IsSuperuser,
            Client = new ClientInfo { ClientId = clientId, Username = record.Username },
        };
        var trusted = new HashSet<string>(record.Trusted, StringComparer.Ordinal);
        var stale = DeliveryAuthorization.Decided(engine.Router.AuthorizationEpoch - 1, checkEachDelivery: true);
        foreach (var (filter, options) in record.Subscriptions)
            session.AddSubscription(filter, options, trusted.Contains(filter) ? DeliveryAuthorization.Trusted : stale);
        lock (session)
        {
            session._persisted = persisted && engine.Journal is not null;
            session.PendingWillLocked = record.Will;
            foreach (var (sequence, message) in messages)
            {
                session._sequence = Math.Max(session._sequence, sequence);
                if (message.State == StoredMessageState.Queued)
                {
                    (session._queue ??= new()).Enqueue(new QueuedDelivery(message.Message, message.Qos, message.Retain, message.SubscriptionIds?.ToList(), sequence));
                    session._queuedBytes += SizeOf(message.Message);
                }
                else
                {
                    (session._inflight ??= [])[message.PacketId] = new InflightEntry(message.Message, message.Qos, message.Retain, message.SubscriptionIds?.ToList(), sequence)
                    {
                        Released = message.State == StoredMessageState.Released,
                    };
                    session._lastPacketId = Math.Max(session._lastPacketId, message.PacketId);
                }
            }
            var now = engine.TimeProvider.GetTimestamp();
            foreach (var id in awaitingRel)
                (session._awaitingRel ??= [])[id] = now;
        }
        return session;
    }

    /// <summary>In a cluster, a session that outlives its connection has its record copied there (<see cref="Cluster.IClusterLink.SessionChanged"/>).</summary>
    private void MirrorLocked()
    {
        if (ExpiryInterval > 0)
            _engine.Cluster?.SessionChanged(ClientId);
    }

    /// <summary>
    /// The session's record as a store key and value, without its will (which belongs to the connection's node) and
    /// messages, for the cluster's copy; offline since <paramref name="nowUnixMs"/> if it has no connection. Null when
    /// it has ended or does not outlive its connection.
    /// </summary>
    public KeyValuePair<string, byte[]>? CopyRecord(long nowUnixMs)
    {
        lock (this)
        {
            if (_terminated || ExpiryInterval == 0)
                return null;
            var subscriptions = _subscriptions is null ? [] : _subscriptions.ToList();
            return new(JournalKey.Session(ClientId, _clientHash).ToString(), SessionRecords.Encode(new SessionRecord(
                ExpiryInterval, _channel is null ? nowUnixMs : 0, Client?.Username, IsSuperuser, subscriptions, [.. _rare?.Trusted ?? []], null, 0)));
        }
    }

    /// <summary>
    /// Another node takes this session (cluster takeover): its state as store records (the session offline since
    /// <paramref name="nowUnixMs"/>, its subscriptions, every queued and in-flight message with its packet id, incoming
    /// QoS 2 packet ids), and the session ends here in the same step, so nothing delivered meanwhile is lost here.
    /// Null if it had already ended.
    /// </summary>
    public List<KeyValuePair<string, byte[]>>? HandOver(long nowUnixMs)
    {
        lock (this)
        {
            if (_terminated)
                return null;
            var records = new List<KeyValuePair<string, byte[]>>();
            var subscriptions = _subscriptions is null ? [] : _subscriptions.ToList();
            var will = PendingWillLocked;
            PendingWillLocked = null; // it goes with the session: the new owner's connection cancels it [MQTT-3.1.3-9]
            records.Add(new(JournalKey.Session(ClientId, _clientHash).ToString(), SessionRecords.Encode(new SessionRecord(
                ExpiryInterval, nowUnixMs, Client?.Username, IsSuperuser, subscriptions, [.. _rare?.Trusted ?? []], will,
                will is null ? 0 : nowUnixMs + (long)WillDelay.TotalMilliseconds))));
            foreach (var (id, entry) in _inflight ?? [])
            {
                records.Add(new(JournalKey.Message(ClientId, _clientHash, entry.Sequence).ToString(), SessionRecords.Encode(new MessageRecord(
                    entry.Released ? StoredMessageState.Released : StoredMessageState.InFlight, id, entry.Qos, entry.Retain, entry.SubscriptionIds, entry.Message))));
            }
            foreach (var queued in _queue ?? [])
            {
                records.Add(new(JournalKey.Message(ClientId, _clientHash, queued.Sequence).ToString(), SessionRecords.Encode(new MessageRecord(
                    StoredMessageState.Queued, 0, queued.Qos, queued.Retain, queued.SubscriptionIds, queued.Message))));
            }
            foreach (var id in _awaitingRel?.Keys ?? Enumerable.Empty<ushort>())
                records.Add(new(JournalKey.AwaitingRel(ClientId, _clientHash, id).ToString(), []));
            Terminate();
            return records;
        }
    }
}
