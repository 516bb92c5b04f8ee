namespace Broker.Plugins.Auth;

/// <summary>
/// The callbacks of a plugin instance that are still running, so its StopAsync can remove its hooks, wait for these to
/// finish, and only then close what they use: during a reload the new instance already answers, so a CONNECT in flight
/// in the old one must not fail because the old one is going away.
/// </summary>
public sealed class InFlight
{
    private int _count;
    private volatile TaskCompletionSource? _drained;

    /// <summary>A callback starts; dispose the result when it ends.</summary>
    public Scope Enter()
    {
        Interlocked.Increment(ref _count);
        return new Scope(this);
    }

    /// <summary>Waits until no callback runs, at most <paramref name="limit"/> (after which the broker has given up on them).</summary>
    public async Task DrainAsync(TimeSpan limit, TimeProvider clock)
    {
        _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Volatile.Read(ref _count) == 0)
            return;
        try
        {
            await _drained.Task.WaitAsync(limit, clock).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // the callbacks still running are past their hook timeout
        }
    }

    private void Exit()
    {
        if (Interlocked.Decrement(ref _count) == 0)
            _drained?.TrySetResult();
    }

    /// <summary>One running callback.</summary>
    public readonly struct Scope(InFlight owner) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => owner.Exit();
    }
}
