using Broker.Core.Sessions;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Broker.Protocol;

namespace Broker.Core.Connections;

internal sealed partial class ClientChannel
{
    private async ValueTask HandleSubscribeAsync(MqttSubscribePacket packet)
    {
        var session = _session!;
        var mqtt = _engine.MqttOptions;
        var v5 = _version == MqttProtocolVersion.V500;
        if (v5 && (!mqtt.WildcardSubscription || !mqtt.SharedSubscription))
            RefuseUnavailableFeatures(packet, mqtt);
        var subscriptionId = packet.Properties?.SubscriptionIdentifier ?? 0;
        var requests = new TrackedList<SubscriptionRequest>(packet.Subscriptions.Count);
        foreach (var s in packet.Subscriptions)
            requests.AddFromPacket(new SubscriptionRequest(s.TopicFilter, new SubscriptionOptions(s.Qos, s.NoLocal, s.RetainAsPublished, s.RetainHandling, subscriptionId)));

        if (!_engine.Hooks.ClientSubscribe.IsEmpty)
            await _engine.Hooks.ClientSubscribe.RunAsync(new ClientSubscribeContext { Client = _client, Subscriptions = requests, UserProperties = packet.Properties?.UserProperties }).ConfigureAwait(false);

        // One code per filter of the SUBSCRIBE, in its order [MQTT-3.9.3-1]: a request a hook removed is refused,
        // one a hook inserted is carried out but has no code of its own.
        var codes = new MqttReasonCode[packet.Subscriptions.Count];
        Array.Fill(codes, MqttReasonCode.UnspecifiedError);
        List<SessionSubscribedContext>? subscribed = null;
        for (var index = 0; index < requests.Count; index++)
        {
            var request = requests[index];
            var filter = request.TopicFilter;
            var shared = MqttTopic.TryParseShared(filter, out var group, out var realFilter);
            MqttReasonCode code;
            if (!MqttTopic.IsValidTopicFilter(realFilter) || (shared && group is null))
                code = MqttReasonCode.TopicFilterInvalid;
            else if (shared && !mqtt.SharedSubscription)
                code = MqttReasonCode.SharedSubscriptionsNotSupported;
            else if (!mqtt.WildcardSubscription && MqttTopic.HasWildcard(realFilter))
                code = MqttReasonCode.WildcardSubscriptionsNotSupported;
            else if (mqtt.MaxTopicLevels > 0 && realFilter.AsSpan().Count('/') >= mqtt.MaxTopicLevels)
                code = MqttReasonCode.TopicFilterInvalid;
            else if (mqtt.MaxSubscriptions > 0 && !session.CanSubscribe(filter, mqtt.MaxSubscriptions))
                code = MqttReasonCode.QuotaExceeded; // EMQX's max_subscriptions; 3.1.1 SUBACK 0x80
            else if (await _engine.AuthorizeSubscriptionAsync(_client!, _superuser, realFilter).ConfigureAwait(false) is not { } authorization)
                code = MqttReasonCode.NotAuthorized;
            else
            {
                var granted = (MqttQos)Math.Min((byte)request.Options.Qos, (byte)mqtt.MaxQosAllowed);
                var options = request.Options with { Qos = granted };
                // Plugins subscribe on behalf of a client from other threads (BrokerServices): the session serialises them.
                var isNew = session.AddSubscription(filter, options, authorization);
                code = (MqttReasonCode)granted;
                if (!_engine.Hooks.SessionSubscribed.IsEmpty)
                {
                    var checkEach = DeliveryAuthorization.IsNeeded(authorization, _engine.Router.AuthorizationEpoch);
                    (subscribed ??= []).Add(new SessionSubscribedContext(m => DeliverRetained(m, options, checkEach))
                    {
                        Client = _client,
                        TopicFilter = realFilter,
                        ShareGroup = group,
                        Options = options,
                        IsNew = isNew,
                    });
                }
            }
            if (code >= MqttReasonCode.UnspecifiedError)
            {
                if (code == MqttReasonCode.NotAuthorized)
                    _engine.Metrics.SubscribeDenied();
                if (ShouldLog(SubscribeRefusedEvent, nameof(LogSubscribeRefused), _client!.ClientId, filter))
                    LogSubscribeRefused(Logger, _client.ClientId, filter, code);
            }
            if (requests.OriginOf(index) is var origin and >= 0)
                codes[origin] = code;
        }

        Send(new MqttSubAckPacket { PacketId = packet.PacketId, ReasonCodes = [.. codes] });

        // After the SUBACK, so retained messages follow it on the wire.
        if (subscribed is not null)
        {
            foreach (var context in subscribed)
                await _engine.Hooks.SessionSubscribed.RunAsync(context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// An MQTT 5 client that was told in CONNACK that wildcard or shared subscriptions are not available commits a
    /// Protocol Error by asking for one: "The Server uses DISCONNECT with Reason Code 0xA2 / 0x9E" (3.2.2.3.11,
    /// 3.2.2.3.13), rather than a SUBACK code. Filters a <c>client.subscribe</c> callback adds are the broker's own
    /// doing and are answered per filter below, as are 3.1.1 clients, who were told nothing.
    /// </summary>
    private static void RefuseUnavailableFeatures(MqttSubscribePacket packet, Configuration.MqttOptions mqtt)
    {
        foreach (var s in packet.Subscriptions)
        {
            var shared = MqttTopic.TryParseShared(s.TopicFilter, out _, out var realFilter);
            if (shared && !mqtt.SharedSubscription)
                throw new MqttProtocolException(MqttReasonCode.SharedSubscriptionsNotSupported,
                    "shared subscription though CONNACK said Shared Subscription Available 0 (3.2.2.3.13)");
            if (!mqtt.WildcardSubscription && MqttTopic.HasWildcard(realFilter))
                throw new MqttProtocolException(MqttReasonCode.WildcardSubscriptionsNotSupported,
                    "wildcard subscription though CONNACK said Wildcard Subscription Available 0 (3.2.2.3.11)");
        }
    }

    /// <summary>
    /// A retained message for a new subscription (<see cref="Session.DeliverRetained"/>), after the same per-message
    /// authorization as a routed message when the subscription was granted in part.
    /// </summary>
    private void DeliverRetained(BrokerMessage message, SubscriptionOptions options, bool checkEach)
    {
        if (_session is not { } session)
            return;
        if (!checkEach)
        {
            session.DeliverRetained(message, options);
            return;
        }
        var allowed = _engine.AuthorizeDeliveryAsync(session, message.Topic);
        if (allowed.IsCompletedSuccessfully)
            DeliverRetainedIf(allowed.Result, session, message, options);
        else
            _ = DeliverRetainedLaterAsync(allowed, session, message, options);
    }

    private async Task DeliverRetainedLaterAsync(ValueTask<bool> allowed, Session session, BrokerMessage message, SubscriptionOptions options) =>
        DeliverRetainedIf(await allowed.ConfigureAwait(false), session, message, options);

    private void DeliverRetainedIf(bool allowed, Session session, BrokerMessage message, SubscriptionOptions options)
    {
        if (allowed)
            session.DeliverRetained(message, options);
        else
            _engine.OnDeliveryDenied(message, session);
    }

    private async ValueTask HandleUnsubscribeAsync(MqttUnsubscribePacket packet)
    {
        var session = _session!;
        var filters = new TrackedList<string>(packet.TopicFilters.Count);
        foreach (var filter in packet.TopicFilters)
            filters.AddFromPacket(filter);
        if (!_engine.Hooks.ClientUnsubscribe.IsEmpty)
            await _engine.Hooks.ClientUnsubscribe.RunAsync(new ClientUnsubscribeContext { Client = _client, TopicFilters = filters }).ConfigureAwait(false);

        // One code per filter of the UNSUBSCRIBE, in its order [MQTT-3.11.3-1]; a filter a hook removed is answered
        // as not subscribed.
        var codes = new MqttReasonCode[packet.TopicFilters.Count];
        Array.Fill(codes, MqttReasonCode.NoSubscriptionExisted);
        for (var index = 0; index < filters.Count; index++)
        {
            var filter = filters[index];
            var removed = session.RemoveSubscription(filter);
            if (filters.OriginOf(index) is var origin and >= 0)
                codes[origin] = removed ? MqttReasonCode.Success : MqttReasonCode.NoSubscriptionExisted;
            if (removed && !_engine.Hooks.SessionUnsubscribed.IsEmpty)
            {
                MqttTopic.TryParseShared(filter, out var group, out var realFilter);
                await _engine.Hooks.SessionUnsubscribed.RunAsync(new SessionUnsubscribedContext { Client = _client, TopicFilter = realFilter, ShareGroup = group }).ConfigureAwait(false);
            }
        }
        Send(new MqttUnsubAckPacket { PacketId = packet.PacketId, ReasonCodes = [.. codes] });
    }

    /// <summary>
    /// The entries of one SUBSCRIBE/UNSUBSCRIBE as <c>client.subscribe</c> / <c>client.unsubscribe</c> callbacks see
    /// (and may edit) them, remembering which entry of the packet each one came from, so the SUBACK/UNSUBACK codes
    /// stay in packet order when a callback removes or inserts entries.
    /// </summary>
    private sealed class TrackedList<T>(int capacity) : IList<T>
    {
        private readonly List<T> _items = new(capacity);
        private readonly List<int> _origins = new(capacity);

        public int Count => _items.Count;

        public bool IsReadOnly => false;

        public T this[int index]
        {
            get => _items[index];
            set => _items[index] = value; // a rewrite keeps its place in the packet
        }

        public void AddFromPacket(T item)
        {
            _origins.Add(_items.Count);
            _items.Add(item);
        }

        /// <summary>The index in the SUBSCRIBE of the request at <paramref name="index"/>; -1 if a callback added it.</summary>
        public int OriginOf(int index) => _origins[index];

        public void Add(T item)
        {
            _items.Add(item);
            _origins.Add(-1);
        }

        public void Insert(int index, T item)
        {
            _items.Insert(index, item);
            _origins.Insert(index, -1);
        }

        public void RemoveAt(int index)
        {
            _items.RemoveAt(index);
            _origins.RemoveAt(index);
        }

        public bool Remove(T item)
        {
            var index = _items.IndexOf(item);
            if (index < 0)
                return false;
            RemoveAt(index);
            return true;
        }

        public void Clear()
        {
            _items.Clear();
            _origins.Clear();
        }

        public int IndexOf(T item) => _items.IndexOf(item);

        public bool Contains(T item) => _items.Contains(item);

        public void CopyTo(T[] array, int arrayIndex) => _items.CopyTo(array, arrayIndex);

        public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
