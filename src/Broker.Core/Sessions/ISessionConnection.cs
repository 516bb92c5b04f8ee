using Broker.Core.Connections;
using Broker.Abstractions;
using Broker.Protocol;

namespace Broker.Core.Sessions;

/// <summary>
/// The connection a session delivers to, as the session sees it. The session room owns this contract and the
/// connection room (<see cref="ClientChannel"/>) implements it, so a session never depends on how a connection reads,
/// writes or schedules.
/// </summary>
/// <remarks>
/// Every member only queues or reads: none blocks, takes a lock a session holds, or calls back into a session. That is
/// what lets <see cref="Session"/> call <see cref="SendPublish"/> and <see cref="SendAck"/> under its own lock, where
/// packet identifiers and the order of deliveries are decided (messages of one topic leave in the order they were
/// accepted, MQTT 5 section 4.6); what the connection then does with them (its outbound queue, its writer) happens
/// after the session has let go.
/// </remarks>
internal interface ISessionConnection
{
    /// <summary>The client, once its CONNECT has been accepted.</summary>
    ClientInfo? Client { get; }

    /// <summary>Bytes of QoS 0 messages queued for the client and not yet written.</summary>
    long Qos0BacklogBytes { get; }

    /// <summary>Whether the QoS 0 backlog is above 1/<paramref name="fraction"/> of its limit.</summary>
    bool IsQos0Over(int fraction);

    /// <summary>Completes when the QoS 0 backlog is below half its limit (or the connection closed).</summary>
    Task WaitForQos0DrainAsync();

    /// <summary>Queues a PUBLISH; false when a QoS 0 message was dropped because the backlog is full.</summary>
    bool SendPublish(BrokerMessage message, MqttQos qos, ushort packetId, bool retain, bool dup, List<uint>? subscriptionIds);

    /// <summary>Queues an acknowledgement (here: PUBREL of a resumed QoS 2 exchange).</summary>
    void SendAck(MqttPacketType type, ushort packetId, MqttReasonCode reasonCode);

    /// <summary>Closes the connection from the server's side (MQTT 5: DISCONNECT with <paramref name="reason"/>); completes when cleaned up.</summary>
    Task CloseAsync(MqttReasonCode reason, string why);

    /// <summary>Another connection took the session [MQTT-3.1.4-3]: DISCONNECT 0x8E (MQTT 5), close; completes when cleaned up.</summary>
    Task TakeOverAsync();
}
