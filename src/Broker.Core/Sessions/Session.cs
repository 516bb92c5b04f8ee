using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Configuration;
using Broker.Core.Persistence;
using Broker.Core.Routing;
using Broker.Protocol;

namespace Broker.Core.Sessions;

/// <summary>
/// The state of one client id that outlives connections: subscriptions, outgoing QoS 1/2 messages in flight,
/// the bounded queue of messages waiting for the in-flight window or for the client to come back, and the
/// packet ids of incoming QoS 2 messages awaiting PUBREL.
/// </summary>
/// <remarks>
/// Messages are delivered from publishers' threads while the owning connection acknowledges on its own, so all
/// state is guarded by one lock per session, the session object's own monitor (a lock object per session would be 40
/// bytes more for every idle client). Nothing slow runs under it: sending is an enqueue on the
/// connection's outbound queue, and hooks fire after the lock is released.
/// </remarks>
internal sealed partial class Session : ISubscriber
{
    private readonly ISessionHost _engine;
    // Created on first use: most sessions of a large fleet are idle, and an idle session carries none of them.
    private Dictionary<string, SubscriptionOptions>? _subscriptions;
    private Dictionary<ushort, InflightEntry>? _inflight;
    private Queue<QueuedDelivery>? _queue;
    private Dictionary<ushort, long>? _awaitingRel;
    private ISessionConnection? _channel;
    private int _window;
    private ushort _lastPacketId;
    private long _sequence;
    private bool _terminated;
    private bool _ready;
    private long _queuedBytes;
    private bool _persisted;            // its state is in the persistence journal (persistence on, expiry > 0)

    public Session(ISessionHost engine, string clientId)
    {
        _engine = engine;
        ClientId = clientId;
        _clientHash = clientId.GetHashCode();
    }

    public string ClientId { get; }


    public bool IsConnected => Volatile.Read(ref _channel) is not null;

    /// <summary>The connection bound to this session, if any.</summary>
    public ISessionConnection? Channel => Volatile.Read(ref _channel);

    /// <summary>Seconds; <see cref="uint.MaxValue"/> = never expires; 0 = ends with its connection.</summary>
    public uint ExpiryInterval { get; set; }

    /// <summary>The client as it last connected (for hooks fired while it is offline).</summary>
    public ClientInfo? Client { get; set; }

    /// <summary>Whether <see cref="Client"/> authenticated as a superuser: its deliveries are never checked.</summary>
    public bool IsSuperuser { get; set; }


    public bool IsTerminated
    {
        get
        {
            lock (this)
                return _terminated;
        }
    }

    /// <summary>
    /// Subscribes to <paramref name="topicFilter"/> (with any share prefix) in the router and records it; true when
    /// the session had no subscription to that filter. The owning connection and plugins subscribing on its behalf
    /// call this from different threads: the record and the route change together.
    /// </summary>
    /// <param name="topicFilter">The filter, with any share prefix.</param>
    /// <param name="options">The granted options.</param>
    /// <param name="authorization">How deliveries through it are authorized (<see cref="DeliveryAuthorization"/>).</param>
    public bool AddSubscription(string topicFilter, SubscriptionOptions options, long authorization = DeliveryAuthorization.Trusted)
    {
        lock (this)
        {
            var isNew = _engine.Router.Subscribe(this, topicFilter, options, authorization);
            (_subscriptions ??= new(StringComparer.Ordinal))[topicFilter] = options;
            if (authorization == DeliveryAuthorization.Trusted)
                (Rare.Trusted ??= new(StringComparer.Ordinal)).Add(topicFilter);
            else
                _rare?.Trusted?.Remove(topicFilter);
            if (_persisted)
                PutSessionLocked(disconnectedAtUnixMs: 0);
            MirrorLocked();
            return isNew;
        }
    }

    /// <summary>
    /// Whether a SUBSCRIBE to <paramref name="topicFilter"/> stays within <paramref name="max"/> subscriptions: it
    /// replaces an existing one, or there is room for one more.
    /// </summary>
    public bool CanSubscribe(string topicFilter, int max)
    {
        lock (this)
            return _subscriptions is null || _subscriptions.Count < max || _subscriptions.ContainsKey(topicFilter);
    }

    /// <summary>Removes the subscription to <paramref name="topicFilter"/> and its route; false when there was none.</summary>
    public bool RemoveSubscription(string topicFilter)
    {
        lock (this)
        {
            if (_subscriptions is null || !_subscriptions.Remove(topicFilter))
                return false;
            _rare?.Trusted?.Remove(topicFilter);
            _engine.Router.Unsubscribe(this, topicFilter);
            if (_persisted)
                PutSessionLocked(disconnectedAtUnixMs: 0);
            MirrorLocked();
            return true;
        }
    }

    /// <summary>Removes every subscription and its route (the session has ended).</summary>
    public void RemoveAllSubscriptions()
    {
        lock (this)
        {
            if (_subscriptions is null)
                return;
            foreach (var filter in _subscriptions.Keys)
                _engine.Router.Unsubscribe(this, filter);
            _subscriptions = null;
        }
    }

    /// <summary>The subscriptions (filter with any share prefix, options) at this moment.</summary>
    public List<KeyValuePair<string, SubscriptionOptions>> SubscriptionsSnapshot()
    {
        lock (this)
            return _subscriptions is null ? [] : [.. _subscriptions];
    }

    /// <summary>The filters this session subscribed to, share prefixes included (a copy).</summary>
    public List<string> SubscriptionFilters()
    {
        lock (this)
            return _subscriptions is null ? [] : [.. _subscriptions.Keys];
    }

    public int SubscriptionCount
    {
        get
        {
            lock (this)
                return _subscriptions?.Count ?? 0;
        }
    }

    public int InflightCount
    {
        get
        {
            lock (this)
                return InflightLocked;
        }
    }

    /// <summary>Messages this session dropped (queue full, QoS 0 backlog full): EMQX's <c>mqueue_dropped</c>.</summary>
    public long DroppedCount => Volatile.Read(ref _rare) is { } rare ? Volatile.Read(ref rare.Dropped) : 0;

    /// <summary>Whether this session is a slow subscriber now (<c>session.slow_subscriber_timeout</c>).</summary>
    public bool IsSlow
    {
        get
        {
            lock (this)
                return SlowLocked;
        }
    }

    /// <summary>
    /// Bytes (payload and topic) this session holds for its client: its queue and its connection's QoS 0 backlog.
    /// Read without the lock by <see cref="Overload.OverloadProtection"/> once per check, never per message.
    /// </summary>
    public long HeldBytes => QueuedBytes + (Channel?.Qos0BacklogBytes ?? 0);

    /// <summary>Bytes (payload and topic) in the queue, against session.max_mqueue_bytes.</summary>
    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    public int QueueLength
    {
        get
        {
            lock (this)
                return QueuedLocked;
        }
    }

    /// <summary>
    /// Delivers a routed message: straight to the connection when there is room in the in-flight window,
    /// otherwise into the bounded queue. Called from any thread.
    /// </summary>
    /// <returns>
    /// True when this session is connected and has fallen behind: its queue, or its connection's QoS 0 backlog, is
    /// more than half full. The publisher then waits for <see cref="WaitUntilCaughtUpAsync"/> (back-pressure).
    /// </returns>
    public bool Deliver(BrokerMessage message, MqttQos qos, bool retain, List<uint>? subscriptionIds)
    {
        var options = _engine.SessionOptions;
        Drop? drop = null;
        List<Drop>? more = null; // further drops of one enqueue (drop_oldest making room in bytes)
        bool behind, becameSlow, paused;
        lock (this)
        {
            if (_terminated)
                return false;
            if (message.IsExpired(_engine.Now))
            {
                drop = new Drop(message, "expired", false);
            }
            else if (_channel is not { } channel || !_ready)
            {
                if (qos == MqttQos.AtMostOnce && !options.MqueueStoreQos0)
                    drop = new Drop(message, "qos0_offline", false);
                else
                    drop = EnqueueLocked(new QueuedDelivery(message, qos, retain, subscriptionIds, ++_sequence), ref more);
            }
            else if (qos == MqttQos.AtMostOnce)
            {
                if (!channel.SendPublish(message, qos, 0, retain, dup: false, subscriptionIds))
                    drop = new Drop(message, "queue_full", true);
            }
            else if (InflightLocked < _window && QueuedLocked == 0)
            {
                SendInflightLocked(channel, message, qos, retain, subscriptionIds, ++_sequence, isNew: true);
            }
            else
            {
                drop = EnqueueLocked(new QueuedDelivery(message, qos, retain, subscriptionIds, ++_sequence), ref more);
            }
            behind = IsBehindLocked(options);
            if (drop is { QueueFull: true })
                Rare.Dropped += 1 + (more?.Count ?? 0);
            if (behind)
            {
                becameSlow = BecomesSlowLocked(options);
                behind = !SlowLocked;
            }
            else
            {
                // Less than half full: an ordinary subscriber (again).
                becameSlow = false;
                if (_rare is { } rare)
                {
                    rare.BehindSince = 0;
                    rare.Slow = false;
                }
            }
            paused = !SlowLocked && PausedByOverloadLocked();
        }
        if (drop is { } d)
            _engine.OnDropped(d.Message, d.Reason, d.QueueFull, Client);
        if (more is not null)
        {
            foreach (var extra in more)
                _engine.OnDropped(extra.Message, extra.Reason, extra.QueueFull, Client);
        }
        if (becameSlow)
            OnSlow(options);
        return behind || paused;
    }

    /// <summary>
    /// Above the broker's high watermark, publishers feeding one of the largest queues of connected subscribers wait
    /// for it (<see cref="Overload.OverloadProtection"/>); the callers leave out slow subscribers, which drop or are
    /// disconnected instead. Off overload this is one flag read per delivery.
    /// </summary>
    private bool PausedByOverloadLocked() =>
        _engine.Overload.IsActive && _channel is not null && _ready
        && _queuedBytes + _channel.Qos0BacklogBytes >= _engine.Overload.PauseAbove;

    /// <summary>
    /// How long until this session, behind as it is, becomes a slow subscriber; null when it is not behind (or is slow
    /// already). A publisher waiting for it waits no longer, then calls <see cref="CheckSlow"/>: the subscriber is
    /// declared slow on time even when nobody else delivers to it.
    /// </summary>
    public TimeSpan? TimeUntilSlow()
    {
        lock (this)
        {
            if (_rare is not { BehindSince: not 0, Slow: false } rare)
                return null;
            var left = _engine.SessionOptions.SlowSubscriberTimeout - _engine.TimeProvider.GetElapsedTime(rare.BehindSince);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Declares this session slow if it has been behind for session.slow_subscriber_timeout (see <see cref="TimeUntilSlow"/>).</summary>
    public void CheckSlow()
    {
        var options = _engine.SessionOptions;
        bool becameSlow;
        lock (this)
            becameSlow = IsBehindLocked(options) && BecomesSlowLocked(options);
        if (becameSlow)
            OnSlow(options);
    }

    /// <summary>Releases publishers waiting for this session (the overload has cleared).</summary>
    public void ReleaseWaiters()
    {
        lock (this)
            SignalCaughtUpLocked(force: true);
    }

    /// <summary>
    /// Tracks how long the queue has been more than half full; true when it has been for
    /// <c>session.slow_subscriber_timeout</c> just now. From then on no publisher waits for this session, and those
    /// waiting are released, until a delivery finds it less than half full again.
    /// </summary>
    private bool BecomesSlowLocked(SessionOptions options)
    {
        var now = _engine.TimeProvider.GetTimestamp();
        var rare = Rare;
        if (rare.BehindSince == 0)
        {
            rare.BehindSince = Math.Max(now, 1); // 0 means "not behind"; a test clock may start at 0
            return false;
        }
        if (rare.Slow || _engine.TimeProvider.GetElapsedTime(rare.BehindSince, now) < options.SlowSubscriberTimeout)
            return false;
        rare.Slow = true;
        SignalCaughtUpLocked(force: true);
        return true;
    }

    private void OnSlow(SessionOptions options)
    {
        _engine.OnSlowSubscriber(this);
        if (options.SlowSubscriberPolicy == SlowSubscriberPolicy.Disconnect && Channel is { } channel)
            _ = channel.CloseAsync(MqttReasonCode.QuotaExceeded, "slow_subscriber");
    }

    /// <summary>A retained message for a new subscription: sent with RETAIN set [MQTT-3.3.1-8] (3.1.1), [MQTT-3.3.1-9] (5.0).</summary>
    public void DeliverRetained(BrokerMessage message, SubscriptionOptions options)
    {
        var qos = (MqttQos)Math.Min((byte)message.Qos, (byte)options.Qos);
        Deliver(message, qos, retain: true, options.SubscriptionIdentifier == 0 ? null : [options.SubscriptionIdentifier]);
    }

    /// <summary>
    /// Completes once this session has caught up: its queue is at most a quarter full and its connection's QoS 0
    /// backlog too, or it is no longer connected. Publishers wait on it, bounded by session.backpressure_timeout.
    /// </summary>
    public Task WaitUntilCaughtUpAsync()
    {
        lock (this)
        {
            if (_channel is not { } channel || !_ready || _terminated || SlowLocked)
                return Task.CompletedTask;
            if (IsQueueOverLocked(_engine.SessionOptions, 4) || PausedByOverloadLocked())
                return (Rare.CaughtUp ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            return channel.WaitForQos0DrainAsync();
        }
    }

    private bool IsBehindLocked(SessionOptions options) =>
        _channel is { } channel && _ready && (IsQueueOverLocked(options, 2) || channel.IsQos0Over(2));

    /// <summary>Whether the queue is above 1/<paramref name="fraction"/> of its limit in messages or in bytes.</summary>
    private bool IsQueueOverLocked(SessionOptions options, int fraction) =>
        QueuedLocked > options.MaxMqueueLength / fraction
        || (options.MaxMqueueBytes > 0 && _queuedBytes > options.MaxMqueueBytes / fraction);

    private int InflightLocked => _inflight?.Count ?? 0;

    private int QueuedLocked => _queue?.Count ?? 0;

    /// <summary>Wakes publishers waiting on <see cref="WaitUntilCaughtUpAsync"/> once the queue has drained, or the session has gone.</summary>
    private void SignalCaughtUpLocked(bool force)
    {
        if (_rare is { CaughtUp: { } waiting } rare && (force || !IsQueueOverLocked(_engine.SessionOptions, 4)))
        {
            rare.CaughtUp = null;
            waiting.TrySetResult();
        }
    }

    /// <summary>
    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) for an outgoing message: frees its slot and fills the window from the
    /// queue. Returns the message, or null for an unknown packet id.
    /// </summary>
    public BrokerMessage? Complete(ushort packetId, MqttPacketType ackType)
    {
        BrokerMessage? message;
        List<Drop>? drops = null;
        lock (this)
        {
            if (_inflight is null || !_inflight.TryGetValue(packetId, out var entry))
                return null;
            var expected = entry.Qos == MqttQos.AtLeastOnce ? MqttPacketType.PubAck : MqttPacketType.PubComp;
            if (ackType != expected || (ackType == MqttPacketType.PubComp && !entry.Released))
                return null;
            _inflight.Remove(packetId);
            DeleteMessageLocked(entry.Sequence);
            message = entry.Message;
            FillLocked(ref drops);
        }
        FireDrops(drops);
        return message;
    }

    /// <summary>PUBREC for an outgoing QoS 2 message. Returns false for an unknown packet id.</summary>
    /// <param name="packetId">The packet id.</param>
    /// <param name="failed">An MQTT 5 PUBREC reason code of 0x80 or above ends the exchange: PUBREL follows only codes below 0x80 [MQTT-4.3.3-4].</param>
    /// <param name="pubRelLater">Set when the session sends the PUBREL itself, once the released state is on disk (sync mode).</param>
    public bool Received(ushort packetId, bool failed, out bool pubRelLater)
    {
        List<Drop>? drops = null;
        pubRelLater = false;
        lock (this)
        {
            if (_inflight is null || !_inflight.TryGetValue(packetId, out var entry) || entry.Qos != MqttQos.ExactlyOnce)
                return false;
            if (failed)
            {
                _inflight.Remove(packetId);
                DeleteMessageLocked(entry.Sequence);
                FillLocked(ref drops);
            }
            else
            {
                entry.Released = true;
                PutMessageLocked(entry.Sequence, StoredMessageState.Released, packetId, entry.Message, entry.Qos, entry.Retain, entry.SubscriptionIds, isNew: false);
                if (DeferSends(entry.Qos))
                {
                    SendWhenDurableLocked(packetId, dup: false, released: true);
                    pubRelLater = true;
                }
            }
        }
        FireDrops(drops);
        return true;
    }

    /// <summary>
    /// The writer could not send an in-flight message (too large for the client): behave as if it had been
    /// acknowledged [MQTT-3.1.2-25].
    /// </summary>
    public void Discard(ushort packetId)
    {
        List<Drop>? drops = null;
        lock (this)
        {
            if (_inflight is not null && _inflight.Remove(packetId, out var entry))
            {
                DeleteMessageLocked(entry.Sequence);
                FillLocked(ref drops);
            }
        }
        FireDrops(drops);
    }

    /// <summary>
    /// Binds a new connection to this session, before its CONNACK is sent: from here on the session cannot expire,
    /// and deliveries queue until <see cref="Resume"/>. False if the session has already ended.
    /// </summary>
    public bool TryBind(ISessionConnection channel)
    {
        lock (this)
        {
            if (_terminated)
                return false;
            _channel = channel;
            _ready = false;
            PendingWillLocked = null; // a new connection before the will delay has passed cancels the will [MQTT-3.1.3-9]
        }
        ExpiryTimer?.Dispose();
        WillTimer?.Dispose();
        return true;
    }

    /// <summary>
    /// After the CONNACK: unacknowledged PUBLISH packets are sent again with DUP set, and PUBRELs again for those
    /// already received [MQTT-4.4.0-1]; then the in-flight window is filled from the queue.
    /// </summary>
    public void Resume(ISessionConnection channel, int window)
    {
        List<Drop>? drops = null;
        lock (this)
        {
            if (!ReferenceEquals(_channel, channel))
                return;
            _ready = true;
            _window = window;
            _unsent = null; // all of them go again now, in order
            _sendRound++;
            if (_inflight is { Count: > 0 } inflight)
            {
                var entries = new List<KeyValuePair<ushort, InflightEntry>>(inflight);
                entries.Sort(static (a, b) => a.Value.Sequence.CompareTo(b.Value.Sequence));
                foreach (var (id, entry) in entries)
                {
                    if (DeferSends(entry.Qos))
                        SendWhenDurableLocked(id, dup: true, entry.Released);
                    else if (entry.Released)
                        channel.SendAck(MqttPacketType.PubRel, id, MqttReasonCode.Success);
                    else
                        channel.SendPublish(entry.Message, entry.Qos, id, entry.Retain, dup: true, entry.SubscriptionIds);
                }
            }
            FillLocked(ref drops);
        }
        FireDrops(drops);
    }

    /// <summary>
    /// The connection has gone; messages queue until the next one (or the session ends). Returns false when
    /// another connection had already taken the session.
    /// </summary>
    public bool Detach(ISessionConnection channel, BrokerMessage? will)
    {
        lock (this)
        {
            if (!ReferenceEquals(_channel, channel))
                return false;
            _channel = null;
            _ready = false;
            PendingWillLocked = will;
            if (_persisted)
                PutSessionLocked(_engine.Now.ToUnixTimeMilliseconds());
            MirrorLocked();
            SignalCaughtUpLocked(force: true);
            return true;
        }
    }

    /// <summary>Takes the pending will, if the session is still without a connection.</summary>
    public BrokerMessage? TakePendingWill()
    {
        lock (this)
        {
            if (_channel is not null)
                return null;
            var will = PendingWillLocked;
            PendingWillLocked = null;
            return will;
        }
    }

    /// <summary>Ends the session if no connection has bound it meanwhile (expiry). Returns whether it ended.</summary>
    public bool TerminateIfOffline()
    {
        lock (this)
        {
            if (_channel is not null || _terminated)
                return false;
        }
        return Terminate();
    }

    /// <summary>Ends the session: nothing more is delivered to it. Returns false if it had already ended.</summary>
    public bool Terminate()
    {
        lock (this)
        {
            if (_terminated)
                return false;
            _terminated = true;
            if (_persisted)
                DeleteAllLocked();
            _channel = null;
            _ready = false;
            _inflight = null;
            _queue = null;
            _queuedBytes = 0;
            _awaitingRel = null;
            SignalCaughtUpLocked(force: true);
        }
        ExpiryTimer?.Dispose();
        WillTimer?.Dispose();
        return true;
    }

    /// <summary>Records an incoming QoS 2 packet id until its PUBREL (exactly-once: a resent PUBLISH is not routed again).</summary>
    public AwaitRelResult AddAwaitingRel(ushort packetId)
    {
        var now = _engine.TimeProvider.GetTimestamp();
        lock (this)
        {
            var awaiting = _awaitingRel ??= [];
            if (awaiting.ContainsKey(packetId))
                return AwaitRelResult.Duplicate;
            if (awaiting.Count >= _engine.SessionOptions.MaxAwaitingRel)
            {
                PurgeAwaitingRelLocked(awaiting, now);
                if (awaiting.Count >= _engine.SessionOptions.MaxAwaitingRel)
                    return AwaitRelResult.Full;
            }
            awaiting.Add(packetId, now);
            if (_persisted)
                _engine.Journal!.Put(JournalKey.AwaitingRel(ClientId, _clientHash, packetId), [], isNew: true);
            return AwaitRelResult.Added;
        }
    }

    /// <summary>PUBREL: forgets the packet id. False if it was not awaiting release.</summary>
    public bool Release(ushort packetId)
    {
        lock (this)
        {
            if (_awaitingRel?.Remove(packetId) != true)
                return false;
            if (_persisted)
                _engine.Journal!.Delete(JournalKey.AwaitingRel(ClientId, _clientHash, packetId));
            return true;
        }
    }

    private void PurgeAwaitingRelLocked(Dictionary<ushort, long> awaiting, long now)
    {
        var timeout = _engine.SessionOptions.AwaitRelTimeout;
        List<ushort>? expired = null;
        foreach (var (id, since) in awaiting)
        {
            if (_engine.TimeProvider.GetElapsedTime(since, now) >= timeout)
                (expired ??= []).Add(id);
        }
        if (expired is not null)
        {
            foreach (var id in expired)
            {
                awaiting.Remove(id);
                if (_persisted)
                    _engine.Journal!.Delete(JournalKey.AwaitingRel(ClientId, _clientHash, id));
            }
        }
    }

    private void SendInflightLocked(ISessionConnection channel, BrokerMessage message, MqttQos qos, bool retain, List<uint>? subscriptionIds, long sequence, bool isNew)
    {
        var id = NextPacketIdLocked();
        (_inflight ??= []).Add(id, new InflightEntry(message, qos, retain, subscriptionIds, sequence));
        PutMessageLocked(sequence, StoredMessageState.InFlight, id, message, qos, retain, subscriptionIds, isNew);
        if (DeferSends(qos))
            SendWhenDurableLocked(id, dup: false, released: false);
        else
            channel.SendPublish(message, qos, id, retain, dup: false, subscriptionIds);
    }

    private ushort NextPacketIdLocked()
    {
        // The window is at most 65535 wide, so a free id exists; skip ids still in flight.
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (_inflight?.ContainsKey(_lastPacketId) == true);
        return _lastPacketId;
    }

    /// <summary>
    /// Queues <paramref name="delivery"/> within session.max_mqueue_len and session.max_mqueue_bytes; when either is
    /// reached, session.mqueue_overflow decides what is dropped. Making room for one large message may drop several
    /// small ones: the first is returned, the others added to <paramref name="more"/>.
    /// </summary>
    private Drop? EnqueueLocked(QueuedDelivery delivery, ref List<Drop>? more)
    {
        var options = _engine.SessionOptions;
        var queue = _queue ??= new Queue<QueuedDelivery>();
        var size = SizeOf(delivery.Message);
        var maxBytes = options.MaxMqueueBytes > 0 ? options.MaxMqueueBytes : long.MaxValue;
        if (queue.Count < options.MaxMqueueLength && _queuedBytes + size <= maxBytes)
        {
            queue.Enqueue(delivery);
            _queuedBytes += size;
            PutQueuedLocked(delivery);
            return null;
        }
        if (options.MqueueOverflow == QueueOverflowPolicy.DropNewest || size > maxBytes)
            return new Drop(delivery.Message, "queue_full", true);
        Drop? first = null;
        while (queue.Count > 0 && (queue.Count >= options.MaxMqueueLength || _queuedBytes + size > maxBytes))
        {
            var oldest = queue.Dequeue();
            _queuedBytes -= SizeOf(oldest.Message);
            DeleteMessageLocked(oldest.Sequence, oldest.Qos);
            var drop = new Drop(oldest.Message, "queue_full", true);
            if (first is null)
                first = drop;
            else
                (more ??= []).Add(drop);
        }
        queue.Enqueue(delivery);
        _queuedBytes += size;
        PutQueuedLocked(delivery);
        return first;
    }

    /// <summary>What a queued message counts against session.max_mqueue_bytes: its payload and topic.</summary>
    internal static long SizeOf(BrokerMessage message) => message.Payload.Length + message.Topic.Length;

    private void FillLocked(ref List<Drop>? drops)
    {
        if (_channel is not { } channel || !_ready)
            return;
        var now = _engine.Now;
        while (_queue is { Count: > 0 } queue)
        {
            var next = queue.Peek();
            if (next.Qos != MqttQos.AtMostOnce && InflightLocked >= _window)
                break;
            queue.Dequeue();
            _queuedBytes -= SizeOf(next.Message);
            if (next.Message.IsExpired(now))
            {
                DeleteMessageLocked(next.Sequence, next.Qos);
                (drops ??= []).Add(new Drop(next.Message, "expired", false));
                continue;
            }
            if (next.Qos == MqttQos.AtMostOnce)
            {
                if (!channel.SendPublish(next.Message, next.Qos, 0, next.Retain, dup: false, next.SubscriptionIds))
                    (drops ??= []).Add(new Drop(next.Message, "queue_full", true));
            }
            else
            {
                SendInflightLocked(channel, next.Message, next.Qos, next.Retain, next.SubscriptionIds, next.Sequence, isNew: false);
            }
        }
        SignalCaughtUpLocked(force: false);
    }

    private void FireDrops(List<Drop>? drops)
    {
        if (drops is null)
            return;
        foreach (var drop in drops)
            _engine.OnDropped(drop.Message, drop.Reason, drop.QueueFull, Client);
    }

    private sealed class InflightEntry(BrokerMessage message, MqttQos qos, bool retain, List<uint>? subscriptionIds, long sequence)
    {
        public BrokerMessage Message { get; } = message;
        public MqttQos Qos { get; } = qos;
        public bool Retain { get; } = retain;
        public List<uint>? SubscriptionIds { get; } = subscriptionIds;
        public long Sequence { get; } = sequence;
        /// <summary>QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP.</summary>
        public bool Released { get; set; }
    }

    private readonly record struct QueuedDelivery(BrokerMessage Message, MqttQos Qos, bool Retain, List<uint>? SubscriptionIds, long Sequence);

    private readonly record struct Drop(BrokerMessage Message, string Reason, bool QueueFull);
}

internal enum AwaitRelResult
{
    Added,
    Duplicate,
    Full,
}
