using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// One mosquitto_pub -l kept open, fed the numbers 0, 1, 2... one line per <c>interval</c> (a steady load across a
/// failure, not a wait for anything), noting when each was handed to it.
/// </summary>
internal sealed class SteadyPublisher : IAsyncDisposable
{
    private readonly ChildProcess _pub;
    private readonly DateTime[] _writtenAt;
    private readonly Task _feeding;
    private readonly CancellationTokenSource _stop = new();

    private SteadyPublisher(ChildProcess pub, int count, TimeSpan interval)
    {
        _pub = pub;
        _writtenAt = new DateTime[count];
        _feeding = Task.Run(() => FeedAsync(interval, _stop.Token));
    }

    /// <summary>When number n was written to mosquitto_pub's input (UTC).</summary>
    public IReadOnlyList<DateTime> WrittenAt => _writtenAt;

    public static SteadyPublisher Start(BrokerProcess broker, string topic, string clientId, int count, TimeSpan interval) =>
        new(ChildProcess.Start(Tools.Require("mosquitto_pub", "mosquitto-clients"),
            ["-h", broker.Host, "-p", broker.Port.ToString(CultureInfo.InvariantCulture), "-q", "1", "-t", topic, "-i", clientId, "-l"],
            redirectStdin: true), count, interval);

    /// <summary>Waits until every number was written and mosquitto_pub exited 0 (every PUBACK received).</summary>
    public async Task CompletedAsync(TimeSpan timeout)
    {
        await _feeding.WaitAsync(timeout);
        var code = await _pub.WaitForExitAsync(timeout);
        Assert.True(code == 0, $"mosquitto_pub exited with {code}\n{_pub.Transcript}");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _feeding;
        }
        catch (OperationCanceledException)
        {
        }
        await _pub.DisposeAsync();
        _stop.Dispose();
    }

    private async Task FeedAsync(TimeSpan interval, CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(interval);
        for (var i = 0; i < _writtenAt.Length; i++)
        {
            await timer.WaitForNextTickAsync(cancel);
            await _pub.StandardInput.WriteLineAsync(i.ToString(CultureInfo.InvariantCulture).AsMemory(), cancel);
            await _pub.StandardInput.FlushAsync(cancel);
            _writtenAt[i] = DateTime.UtcNow;
        }
        _pub.StandardInput.Close();
    }
}
