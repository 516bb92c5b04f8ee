namespace Broker.Abstractions.Hooks;

/// <summary>What a hook callback tells the chain: go on to the next callback, or stop here.</summary>
public enum HookResult
{
    /// <summary>Run the next callback (EMQX <c>ok</c> / <c>{ok, Acc}</c>: a new accumulator is written to the context).</summary>
    Continue = 0,
    /// <summary>Run no further callback (EMQX <c>stop</c> / <c>{stop, Acc}</c>). What stopping means is documented per hook point.</summary>
    Stop = 1,
}

/// <summary>
/// A hook callback. It reads its input from <paramref name="context"/> and, where the hook point has an
/// accumulator, writes its result back to the context's settable members.
/// </summary>
/// <remarks>
/// Callbacks run on the connection's thread: finish synchronously where you can (return a completed
/// <see cref="ValueTask{TResult}"/>), never block. A callback that throws or does not complete within
/// <c>plugins.hook_timeout</c> is logged and counted against its owner and treated as failed; for
/// <see cref="HookPoints.ClientAuthenticate"/> and <see cref="HookPoints.ClientAuthorize"/> a failure denies.
/// </remarks>
/// <typeparam name="TContext">The context type of the hook point.</typeparam>
/// <param name="context">The context of this invocation; valid only until the returned task completes.</param>
public delegate ValueTask<HookResult> HookCallback<in TContext>(TContext context) where TContext : class;

/// <summary>Untyped identity of a hook point, for listings and logs.</summary>
public abstract class HookPoint
{
    private protected HookPoint(string name, bool failureDenies)
    {
        Name = name;
        FailureDenies = failureDenies;
    }

    /// <summary>The EMQX-style name, e.g. <c>message.publish</c>.</summary>
    public string Name { get; }

    /// <summary>
    /// True for the access-control hook points: a callback that throws or times out makes the outcome "deny".
    /// </summary>
    public bool FailureDenies { get; }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>A hook point whose callbacks take a <typeparamref name="TContext"/>. Instances live in <see cref="HookPoints"/>.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public sealed class HookPoint<TContext> : HookPoint where TContext : class
{
    internal HookPoint(string name, bool failureDenies = false) : base(name, failureDenies)
    {
    }
}

/// <summary>Registers hook callbacks. Plugins get one scoped to themselves from their plugin context.</summary>
public interface IHookRegistry
{
    /// <summary>
    /// Adds <paramref name="callback"/> to <paramref name="point"/>'s chain. Higher <paramref name="priority"/>
    /// runs first; equal priorities run in registration order. Safe to call from any thread; the change is
    /// visible to the next invocation of the hook point.
    /// </summary>
    /// <typeparam name="TContext">The hook point's context type.</typeparam>
    /// <param name="point">One of <see cref="HookPoints"/>.</param>
    /// <param name="callback">The callback.</param>
    /// <param name="priority">Its place in the chain; see <see cref="HookPriorities"/>.</param>
    /// <returns>Disposing it removes the callback. The host also removes every registration of a plugin that stops.</returns>
    IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default)
        where TContext : class;
}
