// The handle types of each channel kind, by name: SpscSender<T> is Sender<T, ChannelKind::spsc>.
#pragma once

#include "sn/channel/kind.h"
#include "sn/channel/receiver.h"
#include "sn/channel/sender.h"

namespace sn {

// clang-format off
template <class T> using SpscSender = Sender<T, ChannelKind::spsc>;      ///< The sender of an SPSC channel.
template <class T> using SpscReceiver = Receiver<T, ChannelKind::spsc>;  ///< The receiver of an SPSC channel.
template <class T> using MpscSender = Sender<T, ChannelKind::mpsc>;      ///< The sender of an MPSC channel.
template <class T> using MpscReceiver = Receiver<T, ChannelKind::mpsc>;  ///< The receiver of an MPSC channel.
template <class T> using MpmcSender = Sender<T, ChannelKind::mpmc>;      ///< The sender of an MPMC channel.
template <class T> using MpmcReceiver = Receiver<T, ChannelKind::mpmc>;  ///< The receiver of an MPMC channel.
// clang-format on

}  // namespace sn
