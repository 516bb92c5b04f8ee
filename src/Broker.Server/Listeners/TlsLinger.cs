using System.IO.Pipelines;

namespace Broker.Server.Listeners;

/// <summary>
/// <c>mqtt.close_linger</c> for a TLS connection, whose socket Kestrel owns and closes when the connection handler
/// returns: TLS has no half-close short of ending its session, so after the channel is done (its closing packet
/// written, its pipe ends completed) the handler goes on reading and dropping what the client still sends, until the
/// client closes, the linger ends or <see cref="SocketPipe.LingerMaxBytes"/> were dropped. A client still writing
/// then reads the closing packet instead of meeting a reset.
/// </summary>
/// <remarks>
/// The channel sees <see cref="Pipe"/>, whose reader hides the channel's completion from the real one, so the real
/// reader stays readable for <see cref="DrainAsync"/>.
/// </remarks>
internal sealed class TlsLinger(IDuplexPipe transport) : IDuplexPipe
{
    private readonly DeferredReader _input = new(transport.Input);

    /// <summary>What the channel runs on.</summary>
    public IDuplexPipe Pipe => this;

    PipeReader IDuplexPipe.Input => _input;

    PipeWriter IDuplexPipe.Output => transport.Output;

    /// <summary>Reads and drops input for at most <paramref name="linger"/>, then completes the real reader.</summary>
    public async Task DrainAsync(TimeSpan linger)
    {
        var reader = transport.Input;
        try
        {
            if (linger <= TimeSpan.Zero)
                return;
            using var timeout = new CancellationTokenSource(linger);
            long dropped = 0;
            while (dropped < SocketPipe.LingerMaxBytes)
            {
                var result = await reader.ReadAsync(timeout.Token).ConfigureAwait(false);
                dropped += result.Buffer.Length;
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The linger ended, the connection broke, or the channel never completed its reader: close now.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The real reader, except that completing it is left to <see cref="DrainAsync"/>.</summary>
    private sealed class DeferredReader(PipeReader inner) : PipeReader
    {
        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);

        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);
    }
}
