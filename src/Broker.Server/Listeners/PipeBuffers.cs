using System.Buffers;

namespace Broker.Server.Listeners;

/// <summary>
/// What a pipe's writer has written and not yet sent (<see cref="SocketPipe"/>: to the socket; <see cref="TlsPipe"/>:
/// to OpenSSL), in one array rented from <see cref="ArrayPool{T}.Shared"/> for it and returned by
/// <see cref="Release"/>, so a connection that is not writing holds none. A field of its pipe, never copied.
/// </summary>
internal struct PendingWrites
{
    private byte[]? _buffer;
    private int _count;

    public readonly int Count => _count;

    /// <summary>The bytes written so far (empty when none).</summary>
    public readonly Span<byte> Written => _buffer.AsSpan(0, _count);

    /// <summary>The same bytes from <paramref name="start"/> on, for a send that waits.</summary>
    public readonly ReadOnlyMemory<byte> WrittenFrom(int start) => _buffer.AsMemory(start, _count - start);

    public Span<byte> GetSpan(int sizeHint)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_count);
    }

    public Memory<byte> GetMemory(int sizeHint)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_count);
    }

    public void Advance(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_buffer is null || _count + bytes > _buffer.Length)
            throw new InvalidOperationException("advanced past the memory obtained");
        _count += bytes;
    }

    /// <summary>Drops what was written and returns the array.</summary>
    public void Release()
    {
        _count = 0;
        if (_buffer is not null)
            ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }

    private void Reserve(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_buffer is null || _buffer.Length - _count < needed)
            _buffer = Grow(_buffer, _count, _count + needed);
    }

    /// <summary>A rented array of at least <paramref name="needed"/> bytes (and at least twice the old one) holding the first <paramref name="used"/> bytes of <paramref name="buffer"/>, which goes back.</summary>
    internal static byte[] Grow(byte[]? buffer, int used, int needed)
    {
        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(SocketPipe.MinimumBufferSize, Math.Max(needed, (buffer?.Length ?? 0) * 2)));
        if (buffer is not null)
        {
            buffer.AsSpan(0, used).CopyTo(grown);
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return grown;
    }
}

/// <summary>
/// What a pipe's reader has received and its reader not yet consumed (<see cref="SocketPipe"/>: from the socket;
/// <see cref="TlsPipe"/>: decrypted), in one array rented for it and returned as soon as everything in it has been
/// consumed; a packet split across receives keeps its array, grown to fit. A field of its reader, never copied.
/// </summary>
internal struct ReceivedBytes
{
    private byte[]? _buffer;
    private int _start; // unconsumed bytes are _buffer[_start.._end]
    private int _end;
    private bool _examinedAll; // the last AdvanceTo examined every byte: the next read needs new ones

    public readonly bool HasBuffer => _buffer is not null;

    /// <summary>Bytes the reader has not examined yet: a read can return at once.</summary>
    public readonly bool HasUnexamined => _end > _start && !_examinedAll;

    /// <summary>The unconsumed bytes, as a read returns them.</summary>
    public readonly ReadOnlySequence<byte> Unconsumed => new(_buffer ?? [], _start, _end - _start);

    /// <summary>The free space after the unconsumed bytes, once <see cref="Prepare"/> has made some.</summary>
    public readonly Span<byte> Free => _buffer.AsSpan(_end);

    public readonly Memory<byte> FreeMemory => _buffer.AsMemory(_end);

    /// <summary>Makes room after the unconsumed bytes and returns how much there is.</summary>
    public int Prepare()
    {
        if (_buffer is null)
        {
            _buffer = PendingWrites.Grow(null, 0, SocketPipe.MinimumBufferSize);
        }
        else if (_end == _buffer.Length)
        {
            // A packet larger than what is left: move it to the front, or into a larger array.
            if (_start > 0)
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            else
                _buffer = PendingWrites.Grow(_buffer, _end, _end + SocketPipe.MinimumBufferSize);
            _end -= _start;
            _start = 0;
        }
        return _buffer.Length - _end;
    }

    /// <summary><paramref name="count"/> bytes were written into <see cref="Free"/>.</summary>
    public void Added(int count)
    {
        _end += count;
        _examinedAll = false;
    }

    public void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_buffer is null)
            return;
        // Positions of a sequence over one array are indexes into that array.
        _start = consumed.GetInteger();
        _examinedAll = examined.GetInteger() == _end;
        ReturnIfEmpty();
    }

    /// <summary>Returns the array if everything in it has been consumed.</summary>
    public void ReturnIfEmpty()
    {
        if (_buffer is null || _end > _start)
            return;
        Release();
    }

    /// <summary>Returns the array, whatever it holds.</summary>
    public void Release()
    {
        if (_buffer is not null)
            ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _start = _end = 0;
    }
}
