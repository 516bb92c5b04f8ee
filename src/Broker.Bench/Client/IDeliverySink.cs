namespace Broker.Bench.Client;

/// <summary>Gets every PUBLISH payload a connection receives, on that connection's receive loop (one thread at a time).</summary>
internal interface IDeliverySink
{
    /// <param name="payload">The payload; valid only during the call.</param>
    /// <param name="receivedAt">Stopwatch timestamp at which the bytes holding it arrived.</param>
    void OnPublish(ReadOnlySpan<byte> payload, long receivedAt);
}
