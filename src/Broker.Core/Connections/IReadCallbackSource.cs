using System.IO.Pipelines;

namespace Broker.Core.Connections;

/// <summary>
/// A <see cref="PipeReader"/> that can call its one reader back when data arrives instead of being awaited, so a
/// connection that waits holds no suspended async method (an idle plain TCP connection's largest single object:
/// bench/README.md, "The read loop driven by the epoll loop's callback"). The plain TCP transport implements it; a
/// connection over any other pipe keeps an awaiting read loop.
/// </summary>
/// <remarks>
/// Use it instead of <see cref="PipeReader.ReadAsync"/>, never beside it; <see cref="PipeReader.AdvanceTo(SequencePosition, SequencePosition)"/>,
/// <see cref="PipeReader.CancelPendingRead"/> and <see cref="PipeReader.Complete"/> work as with an awaited read. A read
/// that was cancelled, or met the end of the stream, is reported as such: to the caller, or to the callback.
/// </remarks>
public interface IReadCallbackSource
{
    /// <summary>
    /// Reads what is there now and returns true; if nothing is, returns false and calls
    /// <see cref="IReadCallback.OnRead"/> of <paramref name="callback"/> with the result of this read once there is one
    /// (on the thread that learns of it, exactly once per false, possibly before this has returned: after false the
    /// caller touches nothing the callback uses).
    /// </summary>
    bool TryReadOrCallBack(IReadCallback callback, out ReadResult result);
}

/// <summary>The reader an <see cref="IReadCallbackSource"/> calls back.</summary>
public interface IReadCallback
{
    /// <summary>The result of a read that <see cref="IReadCallbackSource.TryReadOrCallBack"/> could not give at once.</summary>
    void OnRead(in ReadResult result);
}
