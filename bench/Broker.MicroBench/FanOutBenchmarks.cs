using Broker.Core.Connections;
using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using BenchmarkDotNet.Attributes;
using Broker.Core;
using Broker.Core.Configuration;
using Broker.Core.Sessions;
using Broker.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.MicroBench;

/// <summary>
/// One QoS 0 message to 1000 subscribers of its topic through <see cref="BrokerEngine.Route"/>: one trie match and
/// 1000 session enqueues. The subscribers are real <see cref="ClientChannel"/>s on in-memory pipes whose output is
/// read and discarded on other threads, so the measured cost is the publisher's share (match + enqueue); encoding
/// and writing happen on each session's writer. If the writers fall behind, sessions drop the oldest message
/// (max_mqueue_len), which costs the same enqueue.
/// </summary>
public class FanOutBenchmarks
{
    private const string Topic = "fanout/topic";
    private readonly List<(Pipe ToServer, Pipe ToClient, Task Server, Task Drain)> _clients = [];
    private readonly CancellationTokenSource _stop = new();
    private BrokerEngine _engine = null!;
    private BrokerMessage _message = null!;

    [Params(1000)]
    public int Subscribers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _engine = new BrokerEngine(new MqttOptions(), new SessionOptions(), new AccessControlOptions { AllowAnonymous = true },
            new BrokerOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        for (var i = 0; i < Subscribers; i++)
            _clients.Add(Connect("sub-" + i.ToString(CultureInfo.InvariantCulture), i));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (_engine.Router.SubscriptionCount < Subscribers)
        {
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"only {_engine.Router.SubscriptionCount} of {Subscribers} subscribed");
            Thread.Yield();
        }
        _message = new BrokerMessage { Topic = Topic, Payload = new byte[64], Qos = MqttQos.AtMostOnce };
    }

    [Benchmark]
    public int Route() => _engine.RouteAsync(_message, publisher: null).Result.Deliveries;

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop.Cancel();
        foreach (var (toServer, _, server, _) in _clients)
            toServer.Writer.Complete();
        Task.WaitAll([.. _clients.Select(c => c.Server)], TimeSpan.FromSeconds(30));
    }

    private (Pipe, Pipe, Task, Task) Connect(string clientId, int index)
    {
        var toServer = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var toClient = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var channel = new ClientChannel(_engine, new DuplexPipe(toServer.Reader, toClient.Writer),
            new IPEndPoint(IPAddress.Loopback, 10000 + index), "bench", Broker.Core.Hosting.ThreadPoolWriterScheduler.Instance);
        var server = channel.RunAsync();
        var writer = new ArrayBufferWriter<byte>();
        MqttPacketWriter.Write(writer, new MqttConnectPacket { ProtocolVersion = MqttProtocolVersion.V311, ClientId = clientId }, MqttProtocolVersion.V311);
        MqttPacketWriter.Write(writer, new MqttSubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new MqttTopicSubscription(Topic, MqttQos.AtMostOnce)],
        }, MqttProtocolVersion.V311);
        toServer.Writer.Write(writer.WrittenSpan);
        toServer.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        return (toServer, toClient, server, DrainAsync(toClient.Reader, _stop.Token));
    }

    private static async Task DrainAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
