namespace Broker.Server.Listeners;

/// <summary>
/// <c>max_conn_rate</c>: EMQX's acceptor token bucket. The bucket holds one second's worth of tokens and starts full;
/// accepting a connection takes one, waiting for it when the bucket is empty. Connections beyond the rate therefore
/// wait in the kernel's accept queue; none is refused for rate.
/// </summary>
/// <remarks>
/// One accept loop per listener calls it, so it needs no lock. The token is taken once a connection has arrived (a
/// bucket charged while idle would allow one extra connection per burst).
/// </remarks>
internal sealed class AcceptRateLimit(int perSecond, TimeProvider time)
{
    private double _tokens = perSecond;
    private long _last = time.GetTimestamp();

    /// <summary>Takes a token, first waiting for one if there is none. Throws when <paramref name="cancellationToken"/> fires.</summary>
    public ValueTask TakeAsync(CancellationToken cancellationToken)
    {
        Refill();
        if (_tokens >= 1)
        {
            _tokens -= 1;
            return ValueTask.CompletedTask;
        }
        return WaitAsync(cancellationToken);
    }

    private async ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromSeconds((1 - _tokens) / perSecond), time, cancellationToken).ConfigureAwait(false);
        Refill();
        _tokens -= 1;
    }

    private void Refill()
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(perSecond, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * perSecond));
        _last = now;
    }
}
