using System.Net.Sockets;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>A client that subscribes and then never reads its socket again (issue 17's slow subscriber).</summary>
public static class StoppedSubscriber
{
    /// <summary>Connects (MQTT 3.1.1, clean session) with a 4 KB receive buffer and subscribes to <paramref name="filter"/> at QoS 1.</summary>
    public static async Task<Socket> ConnectAsync(BrokerProcess broker, string clientId, string filter)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(broker.Host, broker.Port);
        await socket.SendAsync(ConnectPacket(clientId, V311));
        await socket.SendAsync(SubscribePacket(1, filter, 1));
        return socket;
    }
}
