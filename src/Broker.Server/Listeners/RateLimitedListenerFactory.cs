using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Broker.Server.Listeners;

/// <summary>
/// <c>max_conn_rate</c>: wraps the socket transport so that accepting waits for a token (EMQX's acceptor token
/// bucket). Connections beyond the rate stay in the kernel's accept queue until a token is free; none is refused
/// for rate. The bucket holds one second's worth of tokens and starts full.
/// </summary>
internal sealed class RateLimitedListenerFactory(IConnectionListenerFactory inner, int perSecond, TimeProvider time) : IConnectionListenerFactory
{
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        new Listener(await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false), perSecond, time);

    private sealed class Listener(IConnectionListener inner, int perSecond, TimeProvider time) : IConnectionListener
    {
        private double _tokens = perSecond;
        private long _last = time.GetTimestamp();

        public EndPoint EndPoint => inner.EndPoint;

        /// <remarks>
        /// Kestrel calls this from one accept loop per endpoint, so the bucket needs no lock. The token is taken once a
        /// connection has arrived (a bucket charged while idle would allow one extra connection per burst); while this
        /// waits for a token, the next connections wait in the kernel.
        /// </remarks>
        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
            if (connection is null)
                return null;
            Refill();
            if (_tokens < 1)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds((1 - _tokens) / perSecond), time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    await connection.DisposeAsync().ConfigureAwait(false); // unbinding
                    return null;
                }
                Refill();
            }
            _tokens -= 1;
            return connection;
        }

        private void Refill()
        {
            var now = time.GetTimestamp();
            _tokens = Math.Min(perSecond, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * perSecond));
            _last = now;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
