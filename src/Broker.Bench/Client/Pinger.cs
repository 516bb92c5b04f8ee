namespace Broker.Bench.Client;

/// <summary>
/// Sends PINGREQ on every connection each half keep-alive, so QoS 0 subscribers and idle connections, which send
/// nothing else, are not closed by the broker's keep-alive check during long runs. One loop for all connections.
/// </summary>
internal sealed class Pinger : IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public Pinger(IReadOnlyList<BenchConnection> connections, ushort keepAliveSeconds)
    {
        if (keepAliveSeconds > 0)
            _ = RunAsync(connections, TimeSpan.FromSeconds(keepAliveSeconds / 2.0), _stop.Token);
    }

    private static async Task RunAsync(IReadOnlyList<BenchConnection> connections, TimeSpan period, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var connection in connections)
                {
                    try
                    {
                        await connection.PingAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (BenchException)
                    {
                        // The connection failed; the report counts it.
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
