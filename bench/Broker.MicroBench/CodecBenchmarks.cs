using System.Buffers;
using BenchmarkDotNet.Attributes;
using Broker.Protocol;

namespace Broker.MicroBench;

/// <summary>Decode and encode one PUBLISH with <see cref="MqttPacketReader"/> / <see cref="MqttPacketWriter"/>.</summary>
public class CodecBenchmarks
{
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private MqttPublishPacket _packet = null!;
    private byte[] _encoded = [];

    [Params(64, 4096)]
    public int PayloadSize { get; set; }

    [Params(MqttProtocolVersion.V311, MqttProtocolVersion.V500)]
    public MqttProtocolVersion Version { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _packet = new MqttPublishPacket
        {
            Topic = "site/42/device/1234/telemetry",
            Payload = new byte[PayloadSize],
            Qos = MqttQos.AtLeastOnce,
            PacketId = 4711,
        };
        var writer = new ArrayBufferWriter<byte>();
        MqttPacketWriter.Write(writer, _packet, Version);
        _encoded = writer.WrittenSpan.ToArray();
    }

    [Benchmark]
    public MqttPacket DecodePublish()
    {
        var buffer = new ReadOnlySequence<byte>(_encoded);
        if (!MqttPacketReader.TryRead(ref buffer, Version, 0, out var packet))
            throw new InvalidOperationException("incomplete");
        return packet;
    }

    [Benchmark]
    public int EncodePublish()
    {
        _output.ResetWrittenCount();
        MqttPacketWriter.Write(_output, _packet, Version);
        return _output.WrittenCount;
    }
}
